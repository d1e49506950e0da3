/**
 * CONNECT interception against the compiled binary: `sallyport ca init` makes the CA; curl and
 * python requests with it trusted reach a local TLS upstream through https_proxy, and a
 * bearerinjector route adds the token inside the tunnel; the CA key never appears in the logs or
 * /routes. The "public" upstream is 127.0.0.2, named by a test DNS server.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY, ensureBinary, startProxy, type RunningProxy } from "../support/binary.ts";
import { startTestDns, type TestDns } from "../support/dns.ts";
import { signLeaf } from "../support/forward-tls.ts";
import { makeTestPki, type TestPki } from "../support/tls.ts";

let dir: string;
let pki: TestPki;
let dns: TestDns;
let upstream: ReturnType<typeof Bun.serve>;
let proxy: RunningProxy;
let caKey: string;
const seen: { path: string; authorization: string | null }[] = [];
/** The body sizes of the byte-count test: what curl uploads, what the upstream answers. */
const UP_BODY = 3000;
const DOWN_BODY = 5000;

beforeAll(async () => {
  await ensureBinary();
  dir = await mkdtemp(join(tmpdir(), "sallyport-intercept-"));
  const init = Bun.spawn([BINARY, "ca", "init", join(dir, "ca")], { stdout: "pipe", stderr: "pipe" });
  const [initOut, initCode] = await Promise.all([new Response(init.stdout).text(), init.exited]);
  expect(initCode).toBe(0);
  expect(initOut).toContain("--cacert");
  caKey = await readFile(join(dir, "ca", "ca.key"), "utf8");
  pki = await makeTestPki();
  const leaf = await signLeaf(pki, ["api.test"]);
  upstream = Bun.serve({
    hostname: "127.0.0.2",
    port: 0,
    tls: { key: leaf.key, cert: leaf.cert },
    fetch(req) {
      const path = new URL(req.url).pathname;
      seen.push({ path, authorization: req.headers.get("authorization") });
      if (path === "/bytes") return req.arrayBuffer().then(() => new Response("d".repeat(DOWN_BODY)));
      return new Response("upstream over tls");
    },
  });
  dns = await startTestDns();
  dns.answer("api.test", { A: ["127.0.0.2"] });
  await writeFile(join(dir, "token"), "intercepted-token\n");
  proxy = await startProxy([
    "-forward-address", "127.0.0.1:0",
    "-connect-ports", String(upstream.port),
    "-egress-allow", "127.0.0.2",
    "-dns-servers", dns.address,
    "-backend-ca-file", pki.caFile,
    "-credentials-paths", join(dir, "token"),
    "-intercept-ca-cert", join(dir, "ca", "ca.crt"),
    "-intercept-ca-key", join(dir, "ca", "ca.key"),
    "-intercept-hosts", "api.test",
    "-inline-routes", `gh: Host("^api[.]test(:[0-9]+)?$") -> bearerinjector("${join(dir, "token")}") -> <dynamic>`,
  ]);
});

afterAll(async () => {
  await proxy?.stop();
  upstream?.stop(true);
  dns?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function run(cmd: string[], env: Record<string, string> = {}) {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env } });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { stdout, stderr, code };
}

describe("an intercepted CONNECT", () => {
  test("curl with the CA trusted: the route's token reaches the TLS upstream", async () => {
    const r = await run(["curl", "-sS", "--noproxy", "", "-x", proxy.forwardUrl!, "--cacert", join(dir, "ca", "ca.crt"), `https://api.test:${upstream.port}/curl`]);
    expect([r.code, r.stdout]).toEqual([0, "upstream over tls"]);
    expect(seen.at(-1)).toEqual({ path: "/curl", authorization: "Bearer intercepted-token" });
  });

  test("python requests with REQUESTS_CA_BUNDLE", async () => {
    const script = `import requests; r = requests.get("https://api.test:${upstream.port}/python", proxies={"https": "${proxy.forwardUrl}"}); print(r.status_code, r.text)`;
    const r = await run(["python3", "-c", script], { REQUESTS_CA_BUNDLE: join(dir, "ca", "ca.crt") });
    expect(r.stdout.trim()).toBe("200 upstream over tls");
    expect(seen.at(-1)).toEqual({ path: "/python", authorization: "Bearer intercepted-token" });
  });

  test("the tunnel's access-log line counts the bytes each way: the decrypted requests and answers inside it", async () => {
    await writeFile(join(dir, "upload"), "u".repeat(UP_BODY));
    const from = proxy.logs.length;
    const r = await run(["curl", "-sS", "--noproxy", "", "-x", proxy.forwardUrl!, "--cacert", join(dir, "ca", "ca.crt"), "--data-binary", `@${join(dir, "upload")}`, "-o", "/dev/null", "-w", "%{http_code} %{size_download}", `https://api.test:${upstream.port}/bytes`]);
    expect([r.code, r.stdout]).toEqual([0, `200 ${DOWN_BODY}`]);
    // The tunnel's line is written when curl closes the connection.
    let line: string | undefined;
    for (let i = 0; i < 200 && line === undefined; i++) {
      line = proxy.logs.slice(from).find((l) => l.includes(`"CONNECT api.test:${upstream.port} HTTP/1.1" 200 `));
      if (line === undefined) await Bun.sleep(20);
    }
    // combined + duration, requested host, flow id, audit; then the tunnel's: bytes sent up, destination, egress reason
    const m = /" 200 (\d+) "[^"]*" "[^"]*" \d+ \S+ \S+ \S+ (\d+) (\S+) (\S+)$/.exec(line ?? "");
    expect(m, `no access-log line for the tunnel in:\n${proxy.logs.slice(from).join("\n")}`).not.toBeNull();
    const [down, up] = [Number(m![1]), Number(m![2])];
    expect([m![3], m![4]]).toEqual([`api.test:${upstream.port}`, "allow-rule"]);
    // Up: curl's request head and the upload; down: the answer's head and body. Plaintext, so
    // neither holds the TLS handshake (the leaf certificate alone is over 400 bytes).
    expect(up).toBeGreaterThan(UP_BODY + "POST /bytes HTTP/1.1\r\n\r\n".length);
    expect(up).toBeLessThan(UP_BODY + 400);
    expect(down).toBeGreaterThan(DOWN_BODY + "HTTP/1.1 200 OK\r\n\r\n".length);
    expect(down).toBeLessThan(DOWN_BODY + 400);
  });

  test("a client that does not trust the CA fails cleanly; nothing reaches the upstream", async () => {
    const before = seen.length;
    const r = await run(["curl", "-sS", "--noproxy", "", "-x", proxy.forwardUrl!, "--cacert", pki.caFile, `https://api.test:${upstream.port}/untrusted`]);
    expect(r.code).toBe(60);
    expect(seen.length).toBe(before);
  });

  test("once the clients are gone, the forward port holds no connection of theirs (drain would wait for it)", async () => {
    let open = -1;
    for (let i = 0; i < 100 && open !== 0; i++) {
      const scrape = await (await fetch(`${proxy.supportUrl}/metrics`)).text();
      open = Number(/^sallyport_listener_open\{listener="forward"\} (\d+)$/m.exec(scrape)?.[1] ?? -1);
      if (open !== 0) await Bun.sleep(20);
    }
    expect(open).toBe(0);
  });

  test("the CA key is in neither the logs nor /routes", async () => {
    const routes = await (await fetch(`${proxy.supportUrl}/routes`)).text();
    const body = caKey.split("\n").filter((line) => line && !line.startsWith("-----"));
    for (const line of body) {
      expect(routes).not.toContain(line);
      expect(proxy.logs.join("\n")).not.toContain(line);
    }
    expect(proxy.logs.join("\n")).not.toContain("intercepted-token");
  });
});
