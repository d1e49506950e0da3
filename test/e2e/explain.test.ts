/**
 * `sallyport explain`, `sallyport test-policy` and `/debug/explain` against the compiled binary.
 * Explain's output is golden-tested (test/e2e/explain/*.txt; `UPDATE_GOLDEN=1` rewrites them) for
 * a routed request, a forward request, a CONNECT and a denied SNI name. Names resolve through
 * the test DNS server to loopback addresses; nothing is ever sent to them.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ONE_PROCESS, runBinary, startProxy } from "../support/binary.ts";
import { startTestDns, type TestDns } from "../support/dns.ts";

const DIR = join(import.meta.dir, "explain");
const ROUTES = "test/e2e/explain/routes.eskip";
let dns: TestDns;

beforeAll(async () => {
  dns = await startTestDns();
  dns.answer("api.github.test", { A: ["127.0.0.2"] });
  dns.answer("internal.test", { A: ["127.0.0.3"] });
  dns.answer("intranet.test", { A: ["127.0.0.4"] });
});
afterAll(() => dns?.stop());

/** api.github.test is "public" (its address is allowed too); intranet.test is allowed by name, but its address is the loopback. */
const flags = () => ["-routes-file", ROUTES, "-egress-allow", "api.github.test,intranet.test,127.0.0.2", "-dns-servers", dns.address];

async function golden(name: string, actual: string): Promise<void> {
  const path = join(DIR, `${name}.txt`);
  if (process.env.UPDATE_GOLDEN === "1" || !(await Bun.file(path).exists())) await Bun.write(path, actual);
  expect(actual).toBe(await Bun.file(path).text());
}

describe("sallyport explain", () => {
  test.each([
    ["routed", ["GET", "http://wiki.corp/docs/x", "--via", "address", "-H", "Host: wiki.corp", "-H", "Authorization: Bearer client-token-123"]],
    ["routed-served", ["GET", "http://wiki.corp/admin/x", "--via", "address"]],
    ["forward", ["GET", "http://api.github.test/user?page=2", "--client", "10.1.2.3"]],
    ["connect", ["CONNECT", "localhost:443"]],
    ["sni-denied", ["GET", "https://intranet.test/", "--via", "sni"]],
  ])("%s", async (name, request) => {
    const { code, stdout, stderr } = await runBinary(["explain", ...flags(), "--", ...request]);
    expect([code, stderr]).toEqual([0, ""]);
    expect(stdout).not.toContain("client-token-123");
    await golden(name as string, stdout);
  });

  test("an https:// request to an -intercept-hosts destination goes through the routes as https", async () => {
    const ca = await mkdtemp(join(tmpdir(), "sallyport-explain-ca-"));
    expect((await runBinary(["ca", "init", ca])).code).toBe(0);
    const intercept = ["-intercept-hosts", "api.github.test", "-intercept-ca-cert", join(ca, "ca.crt"), "-intercept-ca-key", join(ca, "ca.key")];
    const { code, stdout } = await runBinary(["explain", ...flags(), ...intercept, "--", "GET", "https://api.github.test/user"]);
    expect(code).toBe(0);
    await golden("intercepted", stdout);
  });

  test("a path with a broken escape is what serving answers it with: 400", async () => {
    const { code, stdout } = await runBinary(["explain", ...flags(), "--", "GET", "http://api.github.test/%zz"]);
    expect([code, stdout.trimEnd().split("\n").at(-1)]).toEqual([0, "verdict   deny (bad-request, 400)"]);
  });

  test("a request it cannot read: exit 2 and why", async () => {
    const { code, stderr } = await runBinary(["explain", ...flags(), "--", "GET", "ftp://x/"]);
    expect(code).toBe(2);
    expect(stderr).toBe('explain: "ftp://x/" is not an http:// or https:// URL\n');
  });
});

describe("sallyport test-policy", () => {
  test("the shipped example passes: every SSRF class refused, public names allowed", async () => {
    const { code, stdout } = await runBinary(["test-policy", "-egress-deny", "pastebin.com,*.ngrok.io", "examples/policy-cases.txt"]);
    expect(stdout).toMatch(/^\d+ case\(s\), 0 failed\n$/);
    expect(code).toBe(0);
  });

  test("a failing case: exit 1, the case and line, what was expected and what happened, with the explanation", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sallyport-policy-"));
    const file = join(dir, "cases.txt");
    await writeFile(file, "# a comment\nGET http://api.github.test/ → allow\nGET http://internal.test/ → allow\nCONNECT api.github.test:22 → deny port\n");
    const { code, stdout } = await runBinary(["test-policy", ...flags(), file]);
    expect(code).toBe(1);
    expect(stdout).toContain(`${file}:3: GET http://internal.test/ → allow\n  expected allow, got deny (not-in-allow-list)\n`);
    expect(stdout).toContain("    egress    internal.test:80: deny (reason not-in-allow-list)\n");
    expect(stdout).not.toContain(`${file}:2:`);
    expect(stdout).not.toContain(`${file}:4:`);
    expect(stdout).toEndWith("3 case(s), 1 failed\n");
  });

  test("a line it cannot read: exit 2, file:line and why", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sallyport-policy-"));
    const file = join(dir, "cases.txt");
    await writeFile(file, "GET http://a.test/ → maybe\n");
    const { code, stderr } = await runBinary(["test-policy", file]);
    expect(code).toBe(2);
    expect(stderr).toContain(`${file}:1: "GET http://a.test/ → maybe": after → comes allow, deny, or deny private|rule|allow-list|port|route|invalid`);
  });
});

describe("/debug/explain", () => {
  test("off by default: 404", async () => {
    await using proxy = await startProxy([...ONE_PROCESS, ...flags()]);
    expect((await fetch(`${proxy.supportUrl}/debug/explain?url=http://api.github.test/`)).status).toBe(404);
  });

  test("-enable-debug-explain: the live routes and policy, a secret as its name only, a client's credential never", async () => {
    const secrets = await mkdtemp(join(tmpdir(), "sallyport-explain-secrets-"));
    await writeFile(join(secrets, "gh"), "real-secret-value-77");
    const routes = `gh: Host("^api[.]github[.]test$") -> bearerinjector("${join(secrets, "gh")}") -> <dynamic>`;
    await using proxy = await startProxy([...ONE_PROCESS, "-enable-debug-explain", "-inline-routes", routes, "-credentials-paths", secrets, "-egress-allow", "api.github.test,127.0.0.2", "-dns-servers", dns.address]);
    const query = new URLSearchParams({ url: "http://api.github.test/x", header: "Proxy-Authorization: Basic dXNlcjpwYXNz" });
    const res = await fetch(`${proxy.supportUrl}/debug/explain?${query}`);
    const body = await res.text();
    expect(res.status).toBe(200);
    expect(body).toContain("route     gh (-inline-routes:1)\n");
    expect(body).toContain(`headers   set authorization: Bearer <secret ${join(secrets, "gh")}>\n`);
    expect(body).toContain("egress    api.github.test:80: allow (reason allow-rule, rule \"127.0.0.2\")\n");
    expect(body).toContain("dns       127.0.0.2\n");
    expect(body).not.toContain("real-secret-value-77");
    expect(body).not.toContain("dXNlcjpwYXNz");
    const bad = await fetch(`${proxy.supportUrl}/debug/explain?via=moon&url=http://a.test/`);
    expect([bad.status, await bad.text()]).toEqual([400, 'Bad Request: via "moon": forward, address or sni\n']);
  });

  test("-enable-debug-explain: the live rate-limit count for the request's key, taking no slot", async () => {
    const routes = `lim: * -> clientRatelimit(5, "1h") -> status(204) -> <shunt>`;
    await using proxy = await startProxy([...ONE_PROCESS, "-enable-debug-explain", "-inline-routes", routes]);
    const explained = async (client: string) => (await (await fetch(`${proxy.supportUrl}/debug/explain?${new URLSearchParams({ url: "http://lim.test/", via: "address", header: `X-Forwarded-For: ${client}` })}`)).text()).match(/^ratelimit .*$/m)?.[0];
    expect(await explained("10.0.0.1")).toBe('ratelimit clientRatelimit(5, "1h") on route lim: 0 of 5 in the window, for this request\'s key');
    for (let i = 0; i < 2; i++) expect((await fetch(proxy.url, { headers: { "x-forwarded-for": "10.0.0.1" } })).status).toBe(204);
    expect(await explained("10.0.0.1")).toBe('ratelimit clientRatelimit(5, "1h") on route lim: 2 of 5 in the window, for this request\'s key');
    expect(await explained("10.0.0.1")).toBe('ratelimit clientRatelimit(5, "1h") on route lim: 2 of 5 in the window, for this request\'s key');
    expect(await explained("10.0.0.2")).toBe('ratelimit clientRatelimit(5, "1h") on route lim: 0 of 5 in the window, for this request\'s key');
  });

  test("-enable-debug-explain: the live breaker state of the destination", async () => {
    const routes = `down: * -> consecutiveBreaker(1) -> "http://127.0.0.1:1"`;
    await using proxy = await startProxy([...ONE_PROCESS, "-enable-debug-explain", "-inline-routes", routes]);
    const explainDown = async () => (await (await fetch(`${proxy.supportUrl}/debug/explain?${new URLSearchParams({ url: "http://down.test/", via: "address" })}`)).text()).match(/^breaker .*$/m)?.[0];
    expect(await explainDown()).toBe("breaker   127.0.0.1:1: the route's, consecutive, 1 failures; now none yet (no request to it since the start)");
    expect((await fetch(`${proxy.url}/`)).status).toBe(502);
    expect(await explainDown()).toBe("breaker   127.0.0.1:1: the route's, consecutive, 1 failures; now open");
  });
});
