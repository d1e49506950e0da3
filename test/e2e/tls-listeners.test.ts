/**
 * TLS and mTLS on our own listeners, against the compiled binary with real clients: curl to
 * `-address` over https and to the forward port as an `https://` proxy (plain requests and
 * CONNECT inside), python's urllib3 with a proxy TLS context; the client certificate's subject in
 * the access log and the egress decision, and its role choosing what it may reach; a refused
 * certificate answered 403; the certificate rotated without a restart, a bad pair kept out; the
 * expiry gauge. Every upstream is on 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { X509Certificate } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ONE_PROCESS, startProxy, type RunningProxy } from "../support/binary.ts";
import { signCertificate, signLeaf, type SignedCertificate } from "../support/forward-tls.ts";
import { makeTestPki, type TestPki } from "../support/tls.ts";

let dir: string;
let pki: TestPki;
let stranger: TestPki;
let billing: SignedCertificate;
let outsider: SignedCertificate;
let upstream: ReturnType<typeof Bun.serve>;
let tlsUpstream: ReturnType<typeof Bun.serve>;
let proxy: RunningProxy;
let serverPair: SignedCertificate;
let certFile: string;
let keyFile: string;
let accessLog: string;
const seen: { path: string; authorization: string | null }[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sallyport-tls-listeners-"));
  [pki, stranger] = await Promise.all([makeTestPki(), makeTestPki()]);
  let upstreamPair: SignedCertificate;
  [serverPair, upstreamPair] = await Promise.all([signLeaf(pki, ["localhost"]), signLeaf(pki, ["localhost"])]);
  [billing, outsider] = await Promise.all([
    signCertificate(pki, { subject: "/O=Acme/CN=billing", altNames: ["URI:spiffe://cluster.local/ns/pay/sa/billing"] }),
    signCertificate(stranger, { subject: "/CN=billing", altNames: [] }),
  ]);
  certFile = join(dir, "tls.crt");
  keyFile = join(dir, "tls.key");
  await Promise.all([copyFile(serverPair.certFile, certFile), copyFile(serverPair.keyFile, keyFile)]);
  upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      seen.push({ path: new URL(req.url).pathname, authorization: req.headers.get("authorization") });
      return new Response(`upstream ${new URL(req.url).pathname}`);
    },
  });
  tlsUpstream = Bun.serve({ hostname: "127.0.0.1", port: 0, tls: { key: upstreamPair.key, cert: upstreamPair.cert }, fetch: () => new Response("tls upstream") });
  await writeFile(join(dir, "token"), "listener-token\n");
  // billing may reach the loopback upstreams; everyone else (the default role) nothing.
  await writeFile(join(dir, "roles"), `[billing]\nmatch san=URI:spiffe://cluster.local/ns/pay/sa/billing\nallow 127.0.0.1\n\n[default]\n`);
  accessLog = join(dir, "access.log");
  proxy = await startProxy([
    // two processes, as on a 2-core machine by default: the rotation test waits for both
    "-workers", "2",
    "-tls-cert", certFile,
    "-tls-key", keyFile,
    "-tls-client-ca", pki.caFile,
    "-tls-client-auth", "request",
    "-forward-address", "127.0.0.1:0",
    "-connect-ports", String(tlsUpstream.port),
    "-egress-roles-file", join(dir, "roles"),
    "-source-poll-timeout", "100",
    // allowed destinations one level below: info, so both kinds of decision line show
    "-egress-log-level", "warn",
    "-credentials-paths", join(dir, "token"),
    "-access-log", accessLog,
    "-access-log-json-enabled",
    "-inline-routes", `up: Path("/up") -> bearerinjector("${join(dir, "token")}") -> "http://127.0.0.1:${upstream.port}"`,
  ]);
});

afterAll(async () => {
  await proxy?.stop();
  upstream?.stop(true);
  tlsUpstream?.stop(true);
  await Promise.all([dir, pki?.dir, stranger?.dir].filter(Boolean).map((d) => rm(d!, { recursive: true, force: true })));
});

interface CurlResult {
  readonly code: number;
  readonly status: number;
  readonly headers: string;
  readonly body: string;
  readonly err: string;
}

/** curl with the test CA trusted; -i output split into status, headers and body. */
async function curl(args: string[]): Promise<CurlResult> {
  const p = Bun.spawn(["curl", "-sS", "-i", "--cacert", pki.caFile, "--noproxy", "", ...args], { stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "" } });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  // A tunnel answers twice (the proxy's 200, then the upstream's): the last head is the one.
  const heads = out.split("\r\n\r\n");
  const body = heads.pop() ?? "";
  const headers = heads.pop() ?? "";
  return { code, status: Number(/^HTTP\/[\d.]+ (\d{3})/.exec(headers)?.[1] ?? 0), headers: headers.toLowerCase(), body, err };
}

const withCert = (cert: SignedCertificate) => ["--cert", cert.certFile, "--key", cert.keyFile];
const asProxy = (cert?: SignedCertificate) => ["--proxy", `https://localhost:${proxy.forwardPort}`, "--proxy-cacert", pki.caFile, ...(cert ? ["--proxy-cert", cert.certFile, "--proxy-key", cert.keyFile] : [])];

async function accessLines(count: number): Promise<Record<string, unknown>[]> {
  for (let i = 0; i < 200; i++) {
    const got = (await readFile(accessLog, "utf8").catch(() => "")).split("\n").filter(Boolean);
    if (got.length >= count) return got.map((l) => JSON.parse(l) as Record<string, unknown>);
    await Bun.sleep(20);
  }
  throw new Error(`fewer than ${count} access log lines`);
}

describe("-address over TLS", () => {
  test("curl reaches a route over https; the token is injected; the certificate's subject is the access log's user", async () => {
    const before = (await accessLines(0)).length;
    const res = await curl([...withCert(billing), `https://localhost:${proxy.port}/up`]);
    expect(res).toMatchObject({ code: 0, status: 200, body: "upstream /up" });
    expect(seen.at(-1)).toEqual({ path: "/up", authorization: "Bearer listener-token" });
    const anonymous = await curl([`https://localhost:${proxy.port}/up`]);
    expect(anonymous.status).toBe(200);
    const lines = (await accessLines(before + 2)).slice(before);
    expect(lines.map((l) => [l["auth-user"], l.status, l.uri])).toEqual([
      ["CN=billing,O=Acme", 200, "/up"],
      ["", 200, "/up"],
    ]);
  });

  test("plain http to the TLS port is not served", async () => {
    const res = await curl([`http://127.0.0.1:${proxy.port}/up`]);
    expect(res.status).toBe(0);
    expect(res.code).not.toBe(0);
  });

  test("a certificate our client CA did not sign is refused with 403 client-certificate, never taken as anonymous", async () => {
    const count = seen.length;
    const res = await curl([...withCert(outsider), `https://localhost:${proxy.port}/up`]);
    expect(res.status).toBe(403);
    expect(res.headers).toContain("x-sallyport-error: client-certificate");
    expect(res.body).toStartWith("Forbidden: the client certificate is not trusted (");
    expect(seen.length).toBe(count);
  });
});

describe("the forward port as an https:// proxy", () => {
  test("curl --proxy https:// with the billing certificate: its role may reach the upstream; the decision names subject and role", async () => {
    const res = await curl([...asProxy(billing), `http://127.0.0.1:${upstream.port}/through`]);
    expect(res).toMatchObject({ code: 0, status: 200, body: "upstream /through" });
    const line = await proxy.waitForLog(/egress allow .*role=\\"billing\\"/);
    expect(line).toContain(`subject=\\"CN=billing,O=Acme\\"`);
  });

  test("without a certificate the client has the default role, which reaches nothing: 403 egress-denied", async () => {
    const res = await curl([...asProxy(), `http://127.0.0.1:${upstream.port}/denied`]);
    expect(res.status).toBe(403);
    expect(res.headers).toContain("x-sallyport-error: egress-denied");
    expect(res.body).toContain("is not on the egress allow list");
    await proxy.waitForLog(/egress deny .*role=\\"default\\"/);
    expect(seen.some((s) => s.path === "/denied")).toBe(false);
  });

  test("CONNECT inside the proxy's TLS: a blind tunnel to a TLS upstream, for billing only", async () => {
    const ok = await curl([...asProxy(billing), `https://localhost:${tlsUpstream.port}/`]);
    expect(ok).toMatchObject({ code: 0, status: 200, body: "tls upstream" });
    const denied = await curl([...asProxy(), `https://localhost:${tlsUpstream.port}/`]);
    expect(denied.code).not.toBe(0);
    expect(denied.err).toContain("403");
  });

  test("python urllib3 through the https:// proxy with a client certificate", async () => {
    // For an http:// destination urllib3 takes the proxy's TLS settings from the pool's keywords.
    const script = `
import sys, urllib3
pm = urllib3.ProxyManager(sys.argv[4], ca_certs=sys.argv[1], cert_file=sys.argv[2], key_file=sys.argv[3])
r = pm.request("GET", sys.argv[5], retries=False)
print(r.status, r.data.decode())
`;
    const p = Bun.spawn(["python3", "-c", script, pki.caFile, billing.certFile, billing.keyFile, `https://localhost:${proxy.forwardPort}`, `http://127.0.0.1:${upstream.port}/python`], { stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    expect({ code, out: out.trim(), err }).toEqual({ code: 0, out: "200 upstream /python", err: "" });
  });
});

describe("the certificate", () => {
  test("the expiry gauge shows its notAfter for both TLS listeners", async () => {
    const notAfter = new X509Certificate(await readFile(certFile, "utf8")).validToDate.getTime() / 1000;
    const text = await (await fetch(`${proxy.supportUrl}/metrics`)).text();
    expect(text).toContain(`sallyport_tls_certificate_expiry_timestamp_seconds{listener="proxy"} ${notAfter}`);
    expect(text).toContain(`sallyport_tls_certificate_expiry_timestamp_seconds{listener="forward"} ${notAfter}`);
  });

  test("rotated without a restart: the next connection gets the new one; a bad pair is logged and kept out", async () => {
    const next = await signLeaf(pki, ["localhost", "rotated.test"]);
    await writeFile(keyFile, next.key);
    await writeFile(certFile, next.cert);
    // Each process reads the files on its own poll; the next connection may land on either.
    for (const worker of [0, 1]) await proxy.waitForLog(new RegExp(`TLS certificate .* reloaded: CN=localhost.* worker=${worker}`));
    expect(await servedNames(proxy.port)).toContain("DNS:rotated.test");
    expect(await servedNames(proxy.forwardPort!)).toContain("DNS:rotated.test");
    // A certificate whose key is not the one beside it: refused, and the rotated one stays.
    const other = await signLeaf(pki, ["localhost", "mismatched.test"]);
    await writeFile(certFile, other.cert);
    const warning = await proxy.waitForLog(/TLS certificate .* not taken: .* is not the key of.* worker=0/);
    await proxy.waitForLog(/TLS certificate .* not taken: .* is not the key of.* worker=1/);
    expect(warning).not.toContain("PRIVATE KEY");
    expect(await servedNames(proxy.port)).toContain("DNS:rotated.test");
    expect((await curl([`https://localhost:${proxy.port}/up`])).status).toBe(200);
  });
});

/** The SANs of the certificate a listener serves now, read by openssl. */
async function servedNames(port: number): Promise<string> {
  const p = Bun.spawn(["sh", "-c", `openssl s_client -connect 127.0.0.1:${port} -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName`], { stdout: "pipe" });
  return new Response(p.stdout).text();
}

describe("-tls-client-auth=require", () => {
  test("a client without a certificate is told it needs one; the CA's clients pass", async () => {
    await using strict = await startProxy([
      "-tls-cert", serverPair.certFile,
      "-tls-key", serverPair.keyFile,
      "-tls-client-ca", pki.caFile,
      "-tls-client-auth", "require",
      "-inline-routes", `up: Path("/up") -> "http://127.0.0.1:${upstream.port}"`,
    ]);
    const refused = await curl([`https://localhost:${strict.port}/up`]);
    expect(refused.status).toBe(403);
    expect(refused.body).toBe("Forbidden: a client certificate is required\n");
    expect((await curl([...withCert(billing), `https://localhost:${strict.port}/up`])).status).toBe(200);
  });
});
