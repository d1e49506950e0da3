/** The certificate library works inside a `bun build --compile --minify` binary, not only under `bun test`. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sallyport-tls-compiled-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("a compiled binary makes a CA, signs a leaf, serves it, and fetch verifies it", async () => {
  const binary = join(dir, "probe");
  // build.ts's flags
  const build = Bun.spawnSync([process.execPath, "build", join(import.meta.dir, "fixtures/compiled-probe.ts"), "--compile", "--minify", "--sourcemap", "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig", "--outfile", binary], { stderr: "pipe", stdout: "pipe" });
  expect(build.exitCode, build.stderr.toString()).toBe(0);
  const run = Bun.spawnSync([binary, join(dir, "ca")], { cwd: dir, stderr: "pipe", stdout: "pipe", env: { ...process.env, NODE_EXTRA_CA_CERTS: "" } });
  expect(run.stderr.toString().split("\n").filter((line) => line.includes("error")).join("\n")).toBe("");
  expect(run.stdout.toString()).toBe("200 ok\n");
  const verify = Bun.spawnSync(["openssl", "verify", "-CAfile", join(dir, "ca/ca.crt"), join(dir, "ca/leaf.crt")], { stdout: "pipe", stderr: "pipe" });
  expect(verify.stdout.toString()).toBe(`${join(dir, "ca/leaf.crt")}: OK\n`);
}, 60_000);
