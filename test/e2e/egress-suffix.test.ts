/**
 * The egress suffix against the compiled binary: `http://HOST.egress.local[:port]/path` on
 * -address and on the forward port goes to `https://HOST[:port]/path`, verified against HOST (SNI
 * HOST), under the egress policy. The name reaches the proxy as the Linkerd POC's DNS rewrite
 * sends it: curl's --connect-to. The "public" host is 127.0.0.2, named by a test DNS server.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startProxy, type RunningProxy } from "../support/binary.ts";
import { curl } from "../support/curl.ts";
import { startTestDns, type TestDns } from "../support/dns.ts";
import { signLeaf } from "../support/forward-tls.ts";
import { makeTestPki, type TestPki } from "../support/tls.ts";

let pki: TestPki;
let dns: TestDns;
let upstream: ReturnType<typeof Bun.serve>;
let proxy: RunningProxy;
const seen: { host: string | null; authorization: string | null; path: string }[] = [];

beforeAll(async () => {
  pki = await makeTestPki();
  const leaf = await signLeaf(pki, ["api.test"]);
  upstream = Bun.serve({
    hostname: "127.0.0.2",
    port: 0,
    tls: { key: leaf.key, cert: leaf.cert },
    fetch(req) {
      seen.push({ host: req.headers.get("host"), authorization: req.headers.get("authorization"), path: new URL(req.url).pathname });
      return new Response("over tls");
    },
  });
  dns = await startTestDns();
  dns.answer("api.test", { A: ["127.0.0.2"] });
  // Same address, but the certificate there is not for this name.
  dns.answer("wrong.test", { A: ["127.0.0.2"] });
  dns.answer("inside.test", { A: ["127.0.0.1"] });
  proxy = await startProxy([
    "-forward-address", "127.0.0.1:0",
    "-egress-allow", "127.0.0.2",
    "-dns-servers", dns.address,
    "-backend-ca-file", pki.caFile,
  ]);
});

afterAll(async () => {
  await proxy?.stop();
  upstream?.stop(true);
  dns?.stop();
});

/** curl to `http://NAME:PORT/path`, its connection sent to the proxy's -address as the DNS rewrite would. */
const viaSuffix = (name: string, path: string, port = upstream.port) =>
  curl(["--connect-to", `${name}:${port}:127.0.0.1:${proxy.port}`, `http://${name}:${port}${path}`]);

describe("-egress-suffix on -address", () => {
  test("HOST.egress.local:PORT is fetched as https://HOST:PORT, verified, with Host HOST:PORT", async () => {
    const res = await viaSuffix("api.test.egress.local", "/v1/x?q=1");
    expect([res.status, res.body]).toEqual([200, "over tls"]);
    expect(seen.at(-1)).toEqual({ host: `api.test:${upstream.port}`, authorization: null, path: "/v1/x" });
  });

  test("a certificate that is not for HOST is 502 tls-failed, never a silent success", async () => {
    const before = seen.length;
    const res = await viaSuffix("wrong.test.egress.local", "/x");
    expect([res.status, res.headers["x-sallyport-error"]]).toEqual([502, "tls-failed"]);
    expect(seen.length).toBe(before);
  });

  test("the destination is under the egress policy: a name resolving to the loopback is 403", async () => {
    const res = await viaSuffix("inside.test.egress.local", "/x");
    expect([res.status, res.headers["x-sallyport-error"]]).toEqual([403, "egress-denied"]);
  });

  test("the bare suffix is no host: 404, nothing dialed", async () => {
    const res = await curl(["-H", "Host: egress.local", `${proxy.url}/x`]);
    expect(res.status).toBe(404);
  });
});

describe("-egress-suffix on the forward port", () => {
  test("an http_proxy request for HOST.egress.local goes to https://HOST", async () => {
    const res = await curl(["-x", proxy.forwardUrl!, "--noproxy", "", `http://api.test.egress.local:${upstream.port}/through-forward`]);
    expect([res.status, res.body]).toEqual([200, "over tls"]);
    expect(seen.at(-1)).toMatchObject({ host: `api.test:${upstream.port}`, path: "/through-forward" });
  });
});

describe("routes match the suffixed name", () => {
  test("a route for api.test.egress.local injects a token on the way to https://api.test", async () => {
    await using routed = await startProxy([
      "-egress-allow", "127.0.0.2",
      "-dns-servers", dns.address,
      "-backend-ca-file", pki.caFile,
      "-inline-routes", `gh: Host("^api[.]test[.]egress[.]local:${upstream.port}$") -> setRequestHeader("Authorization", "Bearer injected") -> <dynamic>`,
    ]);
    const res = await curl(["--connect-to", `api.test.egress.local:${upstream.port}:127.0.0.1:${routed.port}`, `http://api.test.egress.local:${upstream.port}/routed`]);
    expect(res.status).toBe(200);
    expect(seen.at(-1)).toMatchObject({ path: "/routed", authorization: "Bearer injected" });
  });

  test("-egress-suffix '' turns it off: no route, 404", async () => {
    await using off = await startProxy(["-egress-suffix", "", "-egress-allow", "127.0.0.2", "-dns-servers", dns.address]);
    const res = await curl(["--connect-to", `api.test.egress.local:${upstream.port}:127.0.0.1:${off.port}`, `http://api.test.egress.local:${upstream.port}/x`]);
    expect(res.status).toBe(404);
  });
});
