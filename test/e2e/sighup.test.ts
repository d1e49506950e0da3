/**
 * SIGHUP re-reads every file the proxy serves from, not only routes and secrets: an egress allow
 * file (checked on a `<dynamic>` route's destination) and the TLS certificate of `-address` are taken at once although their poll is an hour away
 * (`systemctl reload` after a certificate renewal, with no wait). Both workers take them.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, rename, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startProxy, type RunningProxy } from "../support/binary.ts";
import { signLeaf } from "../support/forward-tls.ts";
import { curl } from "../support/curl.ts";
import { makeTestPki, type TestPki } from "../support/tls.ts";

let dir: string;
let pki: TestPki;
let upstream: ReturnType<typeof Bun.serve>;
let proxy: RunningProxy;

/** Replaces `file` whole, by rename, as a deployment tool does. */
async function replace(file: string, text: string): Promise<void> {
  await writeFile(`${file}.new`, text);
  await rename(`${file}.new`, file);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sallyport-sighup-"));
  pki = await makeTestPki();
  upstream = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("upstream") });
  await writeFile(join(dir, "allow.txt"), "# not the upstream yet\nnone.test\nnone-either.test\n");
  await writeFile(join(dir, "tls.crt"), pki.cert);
  await writeFile(join(dir, "tls.key"), pki.key);
  proxy = await startProxy([
    "-workers", "2",
    "-source-poll-timeout", "3600000",
    "-tls-cert", join(dir, "tls.crt"),
    "-tls-key", join(dir, "tls.key"),
    "-egress-allow-file", join(dir, "allow.txt"),
    // The Host names the destination, which the egress policy checks.
    "-inline-routes", "* -> <dynamic>",
  ]);
  await proxy.waitForLog(/2 workers serving/);
});

afterAll(async () => {
  await proxy?.stop();
  upstream?.stop(true);
});

/** The SANs of the certificate -address serves now, by openssl. */
async function servedNames(): Promise<string> {
  const p = Bun.spawn(["sh", "-c", `openssl s_client -connect 127.0.0.1:${proxy.port} -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName`], { stdout: "pipe" });
  return new Response(p.stdout).text();
}

/** The status of a request through -address (TLS) whose Host names the upstream. */
const dynamicGet = async () => (await curl(["--cacert", pki.caFile, "-H", `Host: 127.0.0.1:${upstream.port}`, `https://localhost:${proxy.port}/`])).status;

test("SIGHUP: a new allow file and a new certificate are taken by both workers at once, the poll an hour away", async () => {
  expect(await dynamicGet()).toBe(403);
  const next = await signLeaf(pki, ["localhost", "renewed.test"]);
  await replace(join(dir, "allow.txt"), `127.0.0.1:${upstream.port}\n`);
  await replace(join(dir, "tls.key"), next.key);
  await replace(join(dir, "tls.crt"), next.cert);
  proxy.proc.kill("SIGHUP");
  for (const worker of [0, 1]) {
    await proxy.waitForLog(new RegExp(`egress allow list .*allow\\.txt: 1 entries.* worker=${worker}`));
    await proxy.waitForLog(new RegExp(`TLS certificate .* reloaded: CN=localhost.* worker=${worker}`));
  }
  // Each worker has both: eight new connections, spread by the kernel, all see the new state.
  for (let i = 0; i < 8; i++) {
    expect(await dynamicGet()).toBe(200);
    expect(await servedNames()).toContain("DNS:renewed.test");
  }
});
