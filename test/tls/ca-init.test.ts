/** `sallyport ca init DIR` as a function: the files, their modes, no overwriting, the trust lines. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { chmod, mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadCa } from "../../src/tls/ca.ts";
import { runCaInit } from "../../src/tls/ca-init.ts";

let base: string;
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), "sallyport-ca-init-"));
});
afterEach(async () => {
  await chmod(base, 0o700).catch(() => {});
  await rm(base, { recursive: true, force: true });
});

function buffer() {
  let text = "";
  return { write: (chunk: string) => void (text += chunk), get text() { return text; } };
}

const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

test("writes ca.crt and a 0600 ca.key into a new 0700 directory, and they load as a CA", async () => {
  const dir = join(base, "nested", "ca");
  const out = buffer();
  expect(await runCaInit(dir, out)).toBe(0);
  expect((await readdir(dir)).sort()).toEqual(["ca.crt", "ca.key"]);
  expect(await modeOf(dir)).toBe(0o700);
  expect(await modeOf(join(dir, "ca.key"))).toBe(0o600);
  expect(await modeOf(join(dir, "ca.crt"))).toBe(0o644);
  const cert = await Bun.file(join(dir, "ca.crt")).text();
  const key = await Bun.file(join(dir, "ca.key")).text();
  const ca = await loadCa(cert, key);
  expect(ca.subject).toBe("CN=sallyport interception CA");
  expect(ca.notAfter.getTime() - Date.now()).toBeGreaterThan(3649 * 24 * 3_600_000);
});

test("prints how clients trust it and the flags to start with, never the key", async () => {
  const dir = join(base, "ca");
  const out = buffer();
  await runCaInit(dir, out);
  const crt = join(dir, "ca.crt");
  const key = join(dir, "ca.key");
  expect(out.text).toContain(`curl --cacert ${crt} `);
  expect(out.text).toContain(`export REQUESTS_CA_BUNDLE=${crt}\n`);
  expect(out.text).toContain(`export NODE_EXTRA_CA_CERTS=${crt}\n`);
  expect(out.text).toContain(`export SSL_CERT_FILE=${crt}\n`);
  expect(out.text).toContain(`-intercept-ca-cert ${crt} -intercept-ca-key ${key} -intercept-hosts `);
  expect(out.text).not.toContain("PRIVATE KEY");
  const body = (await Bun.file(key).text()).split("\n").filter((line) => line && !line.startsWith("-----"));
  for (const line of body) expect(out.text).not.toContain(line);
});

test("a relative DIR is printed as an absolute path, so the lines work from anywhere", async () => {
  const out = buffer();
  const cwd = process.cwd();
  process.chdir(base);
  try {
    await runCaInit("rel", out);
  } finally {
    process.chdir(cwd);
  }
  expect(out.text).toContain(`--cacert ${join(base, "rel", "ca.crt")} `);
});

test("an existing directory is used as it is", async () => {
  const dir = join(base, "existing");
  await mkdir(dir, { mode: 0o750 });
  await chmod(dir, 0o750);
  expect(await runCaInit(dir, buffer())).toBe(0);
  expect(await modeOf(dir)).toBe(0o750);
});

for (const existing of ["ca.crt", "ca.key"]) {
  test(`refuses to overwrite an existing ${existing}, and writes neither file`, async () => {
    const dir = join(base, "ca");
    await mkdir(dir);
    await writeFile(join(dir, existing), "keep me");
    const out = buffer();
    await expect(runCaInit(dir, out)).rejects.toThrow(`${join(dir, existing)} exists; refusing to overwrite it`);
    expect(await readdir(dir)).toEqual([existing]);
    expect(await Bun.file(join(dir, existing)).text()).toBe("keep me");
    expect(out.text).toBe("");
  });
}

test("a dangling symlink in the key's place is refused, not followed", async () => {
  const dir = join(base, "ca");
  await mkdir(dir);
  await symlink(join(base, "elsewhere.key"), join(dir, "ca.key"));
  await expect(runCaInit(dir, buffer())).rejects.toThrow("exists; refusing to overwrite it");
  expect(await Bun.file(join(base, "elsewhere.key")).exists()).toBe(false);
});

test("a directory it cannot write says so, with the errno code", async () => {
  if (process.getuid?.() === 0) {
    // root ignores directory modes; an existing file where the directory should be works for everyone
    await writeFile(join(base, "file"), "");
    await expect(runCaInit(join(base, "file"), buffer())).rejects.toThrow(`cannot create ${join(base, "file")}: EEXIST`);
    return;
  }
  await chmod(base, 0o500);
  await expect(runCaInit(join(base, "ca"), buffer())).rejects.toThrow(`cannot create ${join(base, "ca")}: EACCES`);
});

test("two ca inits racing for one directory: one wins, the other writes nothing, the pair matches", async () => {
  const dir = join(base, "ca");
  const results = await Promise.allSettled([runCaInit(dir, buffer()), runCaInit(dir, buffer())]);
  expect(results.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
  expect(String((results.find((r) => r.status === "rejected") as PromiseRejectedResult).reason)).toContain("exists; refusing to overwrite it");
  await loadCa(await Bun.file(join(dir, "ca.crt")).text(), await Bun.file(join(dir, "ca.key")).text());
});
