/**
 * Issue 8 end to end: the forward port (`-forward-address`) with the clients that use it as
 * `http_proxy` and `https_proxy` — curl `-x` (absolute-form, kept-alive, CONNECT, `-p`, from
 * another loopback address), wget, python3 requests, Bun fetch and Node's fetch with undici's
 * ProxyAgent — against the compiled binary, and the routes that apply there (a header set by a
 * route, a bearerinjector secret from `-credentials-paths`).
 *
 * "Public" destinations are loopback addresses the egress policy names explicitly: the upstreams
 * listen on 127.0.0.2 and 127.0.0.3, the proxy runs with `-egress-allow 127.0.0.2,127.0.0.3`, and
 * the test DNS server (`-dns-servers`) answers `api.test` → 127.0.0.2 and `other.test` →
 * 127.0.0.3. Everything else stays refused by the private-address guard, which is on by default:
 * `loop.test` → 127.0.0.1, where an upstream listens that must never be reached.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "bun";
import { startProxy, type RunningProxy } from "../support/binary.ts";
import { startTestDns, type TestDns } from "../support/dns.ts";
import { signLeaf } from "../support/forward-tls.ts";
import { makeTestPki, type TestPki } from "../support/tls.ts";

/** What an upstream saw of one request; it answers with this as JSON. */
interface Seen {
  name: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  bodyLength: number;
  bodySha256: string;
}

interface Upstream {
  readonly name: string;
  readonly port: number;
  /** every request received, in order */
  readonly seen: Seen[];
  stop(): void;
}

function upstream(name: string, hostname: string, tls?: { key: string; cert: string }): Upstream {
  const seen: Seen[] = [];
  const server: Server<undefined> = Bun.serve({
    hostname,
    port: 0,
    tls,
    async fetch(req) {
      const body = new Uint8Array(await req.arrayBuffer());
      const record: Seen = {
        name,
        method: req.method,
        url: req.url,
        headers: Object.fromEntries(req.headers),
        bodyLength: body.byteLength,
        bodySha256: createHash("sha256").update(body).digest("hex"),
      };
      seen.push(record);
      return Response.json(record, { headers: { "x-upstream": name } });
    },
  });
  return { name, port: server.port!, seen, stop: () => server.stop(true) };
}

let dir: string;
let dns: TestDns;
let pki: TestPki;
/** http on 127.0.0.2, reached as api.test */
let api: Upstream;
/** https on 127.0.0.2 with a certificate for api.test */
let apiTls: Upstream;
/** http on 127.0.0.3, reached as other.test */
let other: Upstream;
/** http on 127.0.0.1, reached as loop.test: the guard must keep everyone away from it */
let loop: Upstream;

const ALLOW = "127.0.0.2,127.0.0.3";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sallyport-e2e-forward-"));
  dns = await startTestDns();
  pki = await makeTestPki();
  api = upstream("api", "127.0.0.2");
  apiTls = upstream("api-tls", "127.0.0.2", await signLeaf(pki, ["api.test"]));
  other = upstream("other", "127.0.0.3");
  loop = upstream("loop", "127.0.0.1");
  dns.answer("api.test", { A: ["127.0.0.2"] });
  dns.answer("other.test", { A: ["127.0.0.3"] });
  dns.answer("loop.test", { A: ["127.0.0.1"] });
});

afterAll(async () => {
  for (const u of [api, apiTls, other, loop]) u?.stop();
  dns?.stop();
  await Promise.all([dir, pki?.dir].filter((d) => d !== undefined).map((d) => rm(d, { recursive: true, force: true })));
});

/** The forward port on, names resolved by the test DNS, CONNECT to the TLS upstream and the http one. */
// Allowed destinations are logged at debug (one below -egress-log-level info); the tests read those lines too.
const forwardArgs = (...extra: string[]) => ["-forward-address", "127.0.0.1:0", "-application-log-level", "debug", "-dns-servers", dns.address, "-egress-allow", ALLOW, "-connect-ports", `${apiTls.port},${api.port}`, ...extra];

const apiUrl = (path: string) => `http://api.test:${api.port}${path}`;
const apiTlsUrl = (path: string) => `https://api.test:${apiTls.port}${path}`;
const otherUrl = (path: string) => `http://other.test:${other.port}${path}`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a client with only `env` (and PATH, HOME): no proxy setting of the host leaks in. */
async function run(cmd: string[], env: Record<string, string> = {}): Promise<Run> {
  const p = Bun.spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, ...env } });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

async function runOk(cmd: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await run(cmd, env);
  if (r.code !== 0) throw new Error(`${cmd[0]} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

interface HeaderBlock {
  status: number;
  headers: Record<string, string>;
}

interface CurlThroughProxy extends Run {
  /** every header block curl printed, in order: a CONNECT answer, interim ones, the final one */
  blocks: HeaderBlock[];
  /** the last block's status, 0 when there is none */
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * curl with `args` (proxy options and URL among them), the header blocks printed to stdout ahead
 * of the body. Not ../support/curl.ts: that one passes `--noproxy '*'`, which overrides `-x`.
 */
async function curlVia(args: string[]): Promise<CurlThroughProxy> {
  const r = await run(["curl", "-sS", "-D", "-", ...args]);
  const blocks: HeaderBlock[] = [];
  let body = r.stdout;
  while (body.startsWith("HTTP/")) {
    const end = body.indexOf("\r\n\r\n");
    if (end < 0) break;
    const [statusLine, ...lines] = body.slice(0, end).split("\r\n");
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const i = line.indexOf(":");
      if (i > 0) headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
    }
    blocks.push({ status: Number(statusLine!.split(" ")[1]), headers });
    body = body.slice(end + 4);
  }
  const last = blocks.at(-1);
  return { ...r, blocks, status: last?.status ?? 0, headers: last?.headers ?? {}, body };
}

const seenIn = (body: string) => JSON.parse(body) as Seen;

/**
 * Sends `requests` on one connection, each once the answer to the one before is in (answers with
 * Content-Length only). Not pipelined: the route engine does not answer pipelined requests
 * (COMPATIBILITY.md), on either port.
 */
async function inTurn(port: number, requests: readonly string[]): Promise<string[]> {
  let buffered = "";
  let closed = false;
  let wake = () => {};
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_s, bytes) {
        buffered += bytes.toString("latin1");
        wake();
      },
      close() {
        closed = true;
        wake();
      },
      error() {
        closed = true;
        wake();
      },
    },
  });
  /** the first complete answer in `buffered`, taken out of it */
  const take = (): string | undefined => {
    const end = buffered.indexOf("\r\n\r\n");
    if (end < 0) return undefined;
    const length = Number(/^content-length:\s*(\d+)/im.exec(buffered.slice(0, end))?.[1] ?? 0);
    if (buffered.length < end + 4 + length) return undefined;
    const answer = buffered.slice(0, end + 4 + length);
    buffered = buffered.slice(answer.length);
    return answer;
  };
  const answers: string[] = [];
  try {
    for (const request of requests) {
      socket.write(request);
      const answer = await new Promise<string>((resolve, reject) => {
        wake = () => {
          const got = take();
          if (got !== undefined) resolve(got);
          else if (closed) reject(new Error(`closed after ${answers.length} answers; pending: ${JSON.stringify(buffered)}`));
        };
        wake();
      });
      answers.push(answer);
    }
  } finally {
    socket.end();
  }
  return answers;
}

describe("curl -x, no routes: the built-in fallback sends each request where it asked", () => {
  let proxy: RunningProxy;
  beforeAll(async () => {
    proxy = await startProxy(forwardArgs());
  });
  afterAll(() => proxy?.stop());

  test("http: an absolute-form GET reaches api.test by the test DNS's answer, path, query and Host intact", async () => {
    const res = await curlVia(["-x", proxy.forwardUrl!, apiUrl("/v1/items?page=2&q=a%20b")]);
    expect(res.code).toBe(0);
    expect(res.status).toBe(200);
    expect(res.headers["x-upstream"]).toBe("api");
    const seen = seenIn(res.body);
    expect(seen.name).toBe("api");
    expect(seen.method).toBe("GET");
    expect(new URL(seen.url).pathname + new URL(seen.url).search).toBe("/v1/items?page=2&q=a%20b");
    expect(seen.headers["host"]).toBe(`api.test:${api.port}`);
    expect(seen.headers["x-forwarded-for"]).toBe("127.0.0.1");
    // The hop's own header is not passed on.
    expect(seen.headers["proxy-connection"]).toBeUndefined();
    expect(dns.queries).toContain("api.test A");
    const line = await proxy.waitForLog(new RegExp(`egress allow client=127\\.0\\.0\\.1 user=- host=\\\\?"api\\.test\\\\?" port=${api.port} addresses=127\\.0\\.0\\.2 reason=allow-rule`));
    expect(line).toContain("dial=127.0.0.2");
  });

  test("http keep-alive: curl re-uses the proxy connection, and the second request goes by its own target", async () => {
    const res = await run(["curl", "-sS", "-v", "-x", proxy.forwardUrl!, "-w", "\\n%{num_connects}\\n", apiUrl("/first"), otherUrl("/second?n=2")]);
    expect(res.code).toBe(0);
    const [first, firstConnects, second, secondConnects] = res.stdout.trim().split("\n");
    expect(firstConnects).toBe("1");
    // No new connection for the second transfer: it went over the first one.
    expect(secondConnects).toBe("0");
    expect(res.stderr).toMatch(/Re-using existing connection/);
    expect(seenIn(first!)).toMatchObject({ name: "api", headers: { host: `api.test:${api.port}` } });
    const seen = seenIn(second!);
    expect(seen.name).toBe("other");
    expect(seen.headers["host"]).toBe(`other.test:${other.port}`);
    expect(new URL(seen.url).pathname + new URL(seen.url).search).toBe("/second?n=2");
    await proxy.waitForLog(new RegExp(`egress allow .*host=\\\\?"other\\.test\\\\?" port=${other.port} addresses=127\\.0\\.0\\.3 .*dial=127\\.0\\.0\\.3`));
  });

  test("https: CONNECT to api.test's TLS port, the certificate checked against the test CA", async () => {
    const before = apiTls.seen.length;
    const res = await curlVia(["-x", proxy.forwardUrl!, "--cacert", pki.caFile, apiTlsUrl("/secure?x=1")]);
    expect(res.code).toBe(0);
    expect(res.blocks.map((b) => b.status)).toEqual([200, 200]);
    expect(res.stdout).toStartWith("HTTP/1.1 200 Connection Established\r\n");
    const seen = seenIn(res.body);
    expect(seen.name).toBe("api-tls");
    expect(seen.url).toBe(`https://api.test:${apiTls.port}/secure?x=1`);
    expect(apiTls.seen.length).toBe(before + 1);
    // Inside a tunnel the proxy does not touch the request.
    expect(seen.headers["via"]).toBeUndefined();
    expect(seen.headers["x-forwarded-for"]).toBeUndefined();
    await proxy.waitForLog(new RegExp(`egress allow .*host=\\\\?"api\\.test\\\\?" port=${apiTls.port} addresses=127\\.0\\.0\\.2 .*dial=127\\.0\\.0\\.2`));
  });

  test("curl -p: plain http through a CONNECT tunnel", async () => {
    const res = await curlVia(["-p", "-x", proxy.forwardUrl!, apiUrl("/tunneled")]);
    expect(res.code).toBe(0);
    expect(res.blocks.map((b) => b.status)).toEqual([200, 200]);
    expect(res.stdout).toStartWith("HTTP/1.1 200 Connection Established\r\n");
    const seen = seenIn(res.body);
    expect(seen.name).toBe("api");
    expect(seen.url).toBe(`http://api.test:${api.port}/tunneled`);
    // Tunneled, not relayed: none of the relay's headers.
    expect(seen.headers["via"]).toBeUndefined();
    expect(seen.headers["x-forwarded-for"]).toBeUndefined();
  });

  test("CONNECT to a port not in -connect-ports: 403 connect-port-denied, nothing dialed", async () => {
    const before = other.seen.length;
    const res = await curlVia(["-p", "-x", proxy.forwardUrl!, "-w", "%{http_connect}", otherUrl("/not-443")]);
    expect(res.code).not.toBe(0);
    expect(res.blocks[0]!.status).toBe(403);
    expect(res.blocks[0]!.headers["x-sallyport-error"]).toBe("connect-port-denied");
    expect(res.body).toEndWith("403");
    expect(other.seen.length).toBe(before);
  });

  test("the private-address guard is on: a name for 127.0.0.1 is refused, http and CONNECT alike", async () => {
    const url = `http://loop.test:${loop.port}/must-not-arrive`;
    const plain = await curlVia(["-x", proxy.forwardUrl!, url]);
    expect(plain.status).toBe(403);
    expect(plain.headers["x-sallyport-error"]).toBe("egress-denied");
    const tunneled = await curlVia(["-x", proxy.forwardUrl!, "--cacert", pki.caFile, `https://loop.test:${apiTls.port}/must-not-arrive`]);
    expect(tunneled.code).not.toBe(0);
    expect(tunneled.blocks[0]!.status).toBe(403);
    expect(tunneled.blocks[0]!.headers["x-sallyport-error"]).toBe("egress-denied");
    expect(loop.seen).toEqual([]);
    await proxy.waitForLog(/egress deny .*host=\\?"loop\.test\\?" .*addresses=127\.0\.0\.1 reason=\S+ .*address=127\.0\.0\.1/);
  });

  test("the target's authority wins over a Host header that names another host, on every request of the connection", async () => {
    const apiBefore = api.seen.length;
    const otherBefore = other.seen.length;
    const answers = await inTurn(proxy.forwardPort!, [
      `GET http://api.test:${api.port}/x HTTP/1.1\r\nHost: other.test:${other.port}\r\n\r\n`,
      `GET http://other.test:${other.port}/y HTTP/1.1\r\nHost: api.test:${api.port}\r\n\r\n`,
    ]);
    expect(answers.map((a) => a.slice(0, a.indexOf("\r\n")))).toEqual(["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"]);
    expect(api.seen.slice(apiBefore).map((s) => [s.url, s.headers["host"]])).toEqual([[`http://api.test:${api.port}/x`, `api.test:${api.port}`]]);
    expect(other.seen.slice(otherBefore).map((s) => [s.url, s.headers["host"]])).toEqual([[`http://other.test:${other.port}/y`, `other.test:${other.port}`]]);
  });
  test("a client on 127.0.0.9 is named 127.0.0.9: X-Forwarded-For, the decision lines and the access log lines, http and CONNECT", async () => {
    const plain = await curlVia(["--interface", "127.0.0.9", "-x", proxy.forwardUrl!, apiUrl("/from-nine")]);
    expect(plain.status).toBe(200);
    const seenPlain = seenIn(plain.body);
    expect(seenPlain.name).toBe("api");
    expect(seenPlain.headers["x-forwarded-for"]).toBe("127.0.0.9");
    await proxy.waitForLog(new RegExp(`egress allow client=127\\.0\\.0\\.9 user=- host=\\\\?"api\\.test\\\\?" port=${api.port} `));
    await proxy.waitForLog(/^127\.0\.0\.9 - - \[[^\]]+\] "GET \/from-nine HTTP\/1\.1" 200 /);

    const tunneled = await curlVia(["--interface", "127.0.0.9", "-x", proxy.forwardUrl!, "--cacert", pki.caFile, apiTlsUrl("/from-nine")]);
    expect(tunneled.code).toBe(0);
    expect(tunneled.blocks.map((b) => b.status)).toEqual([200, 200]);
    expect(seenIn(tunneled.body).name).toBe("api-tls");
    await proxy.waitForLog(new RegExp(`egress allow client=127\\.0\\.0\\.9 user=- host=\\\\?"api\\.test\\\\?" port=${apiTls.port} `));
    await proxy.waitForLog(new RegExp(`^127\\.0\\.0\\.9 - - \\[[^\\]]+\\] "CONNECT api\\.test:${apiTls.port} HTTP/1\\.1" 200 `));
  });
});

describe("-forward-auth-file: curl --proxy-user", () => {
  let proxy: RunningProxy;
  const password = "s3cret-Pa55";
  const wrong = "not-the-password";
  const basic = (user: string, pw: string) => Buffer.from(`${user}:${pw}`).toString("base64");
  beforeAll(async () => {
    const file = join(dir, "htpasswd");
    await writeFile(file, `alice:${await Bun.password.hash(password, { algorithm: "bcrypt", cost: 4 })}\n`);
    proxy = await startProxy(forwardArgs("-forward-auth-file", file));
  });
  afterAll(() => proxy?.stop());

  const expectChallenge = (block: HeaderBlock | undefined) => {
    expect(block?.status).toBe(407);
    expect(block?.headers["proxy-authenticate"]).toBe('Basic realm="sallyport"');
    expect(block?.headers["x-sallyport-error"]).toBeDefined();
  };

  test("http without credentials: 407 with the Basic challenge, nothing relayed", async () => {
    const before = api.seen.length;
    const res = await curlVia(["-x", proxy.forwardUrl!, apiUrl("/no-creds")]);
    expectChallenge(res.blocks.at(-1));
    expect(api.seen.length).toBe(before);
  });

  test("CONNECT without credentials: 407 with the Basic challenge, no tunnel", async () => {
    const before = apiTls.seen.length;
    const res = await curlVia(["-x", proxy.forwardUrl!, "--cacert", pki.caFile, "-w", "%{http_connect}", apiTlsUrl("/no-creds")]);
    expect(res.code).not.toBe(0);
    expectChallenge(res.blocks[0]);
    expect(res.body).toEndWith("407");
    expect(apiTls.seen.length).toBe(before);
  });

  test("a wrong password or an unknown user: 407, http and CONNECT", async () => {
    const before = api.seen.length + apiTls.seen.length;
    for (const creds of [`alice:${wrong}`, `bob:${password}`]) {
      const plain = await curlVia(["-x", proxy.forwardUrl!, "--proxy-user", creds, apiUrl("/wrong")]);
      expectChallenge(plain.blocks.at(-1));
      const tunneled = await curlVia(["-x", proxy.forwardUrl!, "--proxy-user", creds, "--cacert", pki.caFile, apiTlsUrl("/wrong")]);
      expect(tunneled.code).not.toBe(0);
      expectChallenge(tunneled.blocks[0]);
    }
    expect(api.seen.length + apiTls.seen.length).toBe(before);
  });

  test("the right password: 200 for http and CONNECT; Proxy-Authorization never reaches the upstream nor the logs; the user is in the decision line", async () => {
    const plain = await curlVia(["-x", proxy.forwardUrl!, "--proxy-user", `alice:${password}`, apiUrl("/authed")]);
    expect(plain.status).toBe(200);
    const seenPlain = seenIn(plain.body);
    expect(seenPlain.name).toBe("api");
    expect(seenPlain.headers["proxy-authorization"]).toBeUndefined();
    const tunneled = await curlVia(["-x", proxy.forwardUrl!, "--proxy-user", `alice:${password}`, "--cacert", pki.caFile, apiTlsUrl("/authed")]);
    expect(tunneled.code).toBe(0);
    expect(tunneled.blocks.map((b) => b.status)).toEqual([200, 200]);
    const seenTunneled = seenIn(tunneled.body);
    expect(seenTunneled.name).toBe("api-tls");
    expect(seenTunneled.headers["proxy-authorization"]).toBeUndefined();
    for (const s of [...api.seen, ...apiTls.seen]) expect(s.headers["proxy-authorization"]).toBeUndefined();

    await proxy.waitForLog(new RegExp(`egress allow client=127\\.0\\.0\\.1 user=\\\\?"alice\\\\?" host=\\\\?"api\\.test\\\\?" port=${api.port} `));
    await proxy.waitForLog(new RegExp(`egress allow client=127\\.0\\.0\\.1 user=\\\\?"alice\\\\?" host=\\\\?"api\\.test\\\\?" port=${apiTls.port} `));
    const logs = proxy.logs.join("\n");
    for (const secret of [password, wrong, basic("alice", password), basic("alice", wrong), basic("bob", password)]) expect(logs).not.toContain(secret);
    expect(logs.toLowerCase()).not.toContain("proxy-authorization");
  });
});

describe("other clients with http_proxy / https_proxy", () => {
  let proxy: RunningProxy;
  beforeAll(async () => {
    proxy = await startProxy(forwardArgs());
  });
  afterAll(() => proxy?.stop());

  const proxyEnv = () => ({ http_proxy: proxy.forwardUrl!, https_proxy: proxy.forwardUrl! });

  test("wget, http_proxy", async () => {
    const seen = seenIn(await runOk(["wget", "-q", "-O", "-", apiUrl("/from-wget?w=1")], proxyEnv()));
    expect(seen.name).toBe("api");
    expect(seen.url).toBe(`http://api.test:${api.port}/from-wget?w=1`);
    expect(seen.headers["user-agent"]).toStartWith("Wget/");
    expect(seen.headers["x-forwarded-for"]).toBe("127.0.0.1");
  });

  test("wget, https_proxy with --ca-certificate", async () => {
    const seen = seenIn(await runOk(["wget", "-q", "-O", "-", `--ca-certificate=${pki.caFile}`, apiTlsUrl("/from-wget")], proxyEnv()));
    expect(seen.name).toBe("api-tls");
    expect(seen.url).toBe(`https://api.test:${apiTls.port}/from-wget`);
    expect(seen.headers["user-agent"]).toStartWith("Wget/");
  });

  test("python3 requests: a GET through CONNECT, verify= the test CA", async () => {
    const script = `import requests, sys
proxy = sys.argv[1]
r = requests.get(sys.argv[2], proxies={"http": proxy, "https": proxy}, verify=sys.argv[3])
print(r.status_code)
print(r.text)`;
    const [status, body] = (await runOk(["python3", "-c", script, proxy.forwardUrl!, apiTlsUrl("/from-python?p=1"), pki.caFile])).split("\n");
    expect(status).toBe("200");
    const seen = seenIn(body!);
    expect(seen.name).toBe("api-tls");
    expect(seen.url).toBe(`https://api.test:${apiTls.port}/from-python?p=1`);
    expect(seen.headers["user-agent"]).toStartWith("python-requests/");
  });

  test("python3 requests: a 100 KB POST through http_proxy arrives intact", async () => {
    const script = `import requests, sys
proxy = sys.argv[1]
body = bytes(range(256)) * 400
r = requests.post(sys.argv[2], data=body, headers={"Content-Type": "application/octet-stream"}, proxies={"http": proxy, "https": proxy})
print(r.status_code)
print(r.text)`;
    const sent = Buffer.alloc(256 * 400, 0).map((_, i) => i % 256);
    const [status, body] = (await runOk(["python3", "-c", script, proxy.forwardUrl!, apiUrl("/upload")], {})).split("\n");
    expect(status).toBe("200");
    const seen = seenIn(body!);
    expect(seen).toMatchObject({ name: "api", method: "POST", url: `http://api.test:${api.port}/upload` });
    expect(seen.headers["content-length"]).toBe(String(sent.byteLength));
    expect(seen.bodyLength).toBe(102_400);
    expect(seen.bodySha256).toBe(createHash("sha256").update(sent).digest("hex"));
  });

  test("Bun fetch with proxy: http", async () => {
    const res = await fetch(apiUrl("/from-bun?b=1"), { proxy: proxy.forwardUrl! });
    expect(res.status).toBe(200);
    const seen = (await res.json()) as Seen;
    expect(seen.name).toBe("api");
    expect(seen.url).toBe(`http://api.test:${api.port}/from-bun?b=1`);
    expect(seen.headers["x-forwarded-for"]).toBe("127.0.0.1");
  });

  test("Bun fetch with proxy: https with tls.ca", async () => {
    // Not kept alive: an idle tunnel would hold the proxy's SIGTERM drain open for its whole grace.
    const res = await fetch(apiTlsUrl("/from-bun"), { proxy: proxy.forwardUrl!, tls: { ca: pki.ca }, keepalive: false });
    expect(res.status).toBe(200);
    const seen = (await res.json()) as Seen;
    expect(seen.name).toBe("api-tls");
    expect(seen.url).toBe(`https://api.test:${apiTls.port}/from-bun`);
  });
});

/** undici from node_modules, for a node child process (it has no node_modules of its own to search). */
const UNDICI = Bun.resolveSync("undici", import.meta.dir);

/** What {@link NODE_FETCH} prints: the answer's status, x-upstream header and body. */
interface NodeAnswer {
  status: number;
  upstream: string | null;
  body: string;
}

/**
 * Node's own global fetch with an undici ProxyAgent as its dispatcher: a POST with a header and a
 * body. argv: undici's path, the proxy, the URL, the agent's options as JSON; `ca` there names a
 * file, read into `requestTls.ca`.
 */
const NODE_FETCH = `
const [undici, proxy, url, optionsJson] = process.argv.slice(1);
const { ProxyAgent } = require(undici);
const { readFileSync } = require("node:fs");
(async () => {
  const { ca, ...options } = JSON.parse(optionsJson);
  const dispatcher = new ProxyAgent({ uri: proxy, ...options, ...(ca ? { requestTls: { ca: readFileSync(ca, "utf8") } } : {}) });
  try {
    const res = await fetch(url, { dispatcher, method: "POST", headers: { "x-from": "node", "content-type": "text/plain" }, body: "hello from node" });
    console.log(JSON.stringify({ status: res.status, upstream: res.headers.get("x-upstream"), body: await res.text() }));
  } finally {
    await dispatcher.close();
  }
})().catch((err) => {
  console.error(err);
  process.exit(1);
});`;

async function nodeFetch(proxyUrl: string, url: string, options: { proxyTunnel?: boolean; ca?: string } = {}): Promise<NodeAnswer> {
  return JSON.parse(await runOk(["node", "-e", NODE_FETCH, UNDICI, proxyUrl, url, JSON.stringify(options)])) as NodeAnswer;
}

const NODE_BODY = "hello from node";

describe("Node fetch with undici's ProxyAgent", () => {
  let proxy: RunningProxy;
  beforeAll(async () => {
    proxy = await startProxy(forwardArgs());
  });
  afterAll(() => proxy?.stop());

  const expectPost = (seen: Seen) => {
    expect(seen.method).toBe("POST");
    expect(seen.headers["x-from"]).toBe("node");
    expect(seen.headers["user-agent"]).toBe("node");
    expect(seen.bodyLength).toBe(NODE_BODY.length);
    expect(seen.bodySha256).toBe(createHash("sha256").update(NODE_BODY).digest("hex"));
  };

  test("http with proxyTunnel: false: an absolute-form POST, relayed (X-Forwarded-For), header and body intact", async () => {
    const before = api.seen.length;
    const res = await nodeFetch(proxy.forwardUrl!, apiUrl("/from-node?n=1"), { proxyTunnel: false });
    expect(res.status).toBe(200);
    expect(res.upstream).toBe("api");
    const seen = seenIn(res.body);
    expect(seen.name).toBe("api");
    expect(seen.url).toBe(`http://api.test:${api.port}/from-node?n=1`);
    expect(seen.headers["host"]).toBe(`api.test:${api.port}`);
    expectPost(seen);
    // Relayed by the route engine, not tunneled.
    expect(seen.headers["x-forwarded-for"]).toBe("127.0.0.1");
    expect(api.seen.length).toBe(before + 1);
  });

  test("http with undici's default (proxyTunnel: true): the same POST through a CONNECT tunnel", async () => {
    const res = await nodeFetch(proxy.forwardUrl!, apiUrl("/from-node-tunneled"));
    expect(res.status).toBe(200);
    const seen = seenIn(res.body);
    expect(seen.name).toBe("api");
    expect(seen.url).toBe(`http://api.test:${api.port}/from-node-tunneled`);
    expectPost(seen);
    // Tunneled: the proxy did not touch the request.
    expect(seen.headers["x-forwarded-for"]).toBeUndefined();
    await proxy.waitForLog(new RegExp(`"CONNECT api\\.test:${api.port} HTTP/1\\.1" 200 `));
  });

  test("https: CONNECT to api.test's TLS port, the certificate checked against the test CA (requestTls.ca)", async () => {
    const before = apiTls.seen.length;
    const res = await nodeFetch(proxy.forwardUrl!, apiTlsUrl("/from-node?tls=1"), { ca: pki.caFile });
    expect(res.status).toBe(200);
    expect(res.upstream).toBe("api-tls");
    const seen = seenIn(res.body);
    expect(seen.name).toBe("api-tls");
    expect(seen.url).toBe(`https://api.test:${apiTls.port}/from-node?tls=1`);
    expectPost(seen);
    expect(seen.headers["x-forwarded-for"]).toBeUndefined();
    expect(apiTls.seen.length).toBe(before + 1);
    await proxy.waitForLog(new RegExp(`egress allow .*host=\\\\?"api\\.test\\\\?" port=${apiTls.port} .*dial=127\\.0\\.0\\.2`));
  });

  test("https without the test CA: Node refuses the certificate, nothing is served", async () => {
    const before = apiTls.seen.length;
    const res = await run(["node", "-e", NODE_FETCH, UNDICI, proxy.forwardUrl!, apiTlsUrl("/untrusted"), "{}"]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/self[- ]signed|unable to (get|verify)|UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED/i);
    expect(apiTls.seen.length).toBe(before);
  });
});

/**
 * Skipper's TODO, first half: curl -x through `proxy` to api.test at `apiPath` and to other.test
 * at `otherPath`, both answered; what each upstream saw, once both went through the egress policy
 * (the route's <dynamic> and the fallback alike).
 */
async function apiAndOther(proxy: RunningProxy, apiPath: string, otherPath: string): Promise<{ api: Seen; other: Seen }> {
  const toApi = await curlVia(["-x", proxy.forwardUrl!, apiUrl(apiPath)]);
  const toOther = await curlVia(["-x", proxy.forwardUrl!, otherUrl(otherPath)]);
  expect([toApi.status, toOther.status]).toEqual([200, 200]);
  const seen = { api: seenIn(toApi.body), other: seenIn(toOther.body) };
  expect([seen.api.name, seen.other.name]).toEqual(["api", "other"]);
  await proxy.waitForLog(new RegExp(`egress allow .*host=\\\\?"api\\.test\\\\?" port=${api.port} .*dial=127\\.0\\.0\\.2`));
  await proxy.waitForLog(new RegExp(`egress allow .*host=\\\\?"other\\.test\\\\?" port=${other.port} .*dial=127\\.0\\.0\\.3`));
  return seen;
}

describe("configured routes come first on the forward port", () => {
  let proxy: RunningProxy;
  const ROUTE = `gh: Host("^api[.]test(:[0-9]+)?$") -> setRequestHeader("Authorization", "Bearer from-route") -> <dynamic>`;
  beforeAll(async () => {
    proxy = await startProxy(forwardArgs("-inline-routes", ROUTE));
  });
  afterAll(() => proxy?.stop());

  test("a route for api.test injects the token into http_proxy traffic; other.test through the same port gets none", async () => {
    const seen = await apiAndOther(proxy, "/with-token", "/without-token");
    expect(seen.api.headers["authorization"]).toBe("Bearer from-route");
    expect(seen.other.headers["authorization"]).toBeUndefined();
  });

  test("/routes prints the configured table, then the marked fallback table", async () => {
    const res = await fetch(`${proxy.supportUrl}/routes`);
    expect(res.status).toBe(200);
    const text = await res.text();
    const route = text.indexOf(`gh: Host("^api[.]test(:[0-9]+)?$")`);
    const banner = text.search(/^\/\/ built-in routes, used only when no route above matches/m);
    const fallback = text.indexOf("forward_fallback: * -> <dynamic>;");
    expect(route).toBeGreaterThanOrEqual(0);
    expect(text.slice(route)).toMatch(/^gh: Host\("\^api\[\.\]test\(:\[0-9\]\+\)\?\$"\)\s*->\s*setRequestHeader\("Authorization", "<redacted>"\)\s*->\s*<dynamic>;/);
    expect(banner).toBeGreaterThan(route);
    expect(fallback).toBeGreaterThan(banner);
  });
});

describe("bearerinjector on the forward port: a secret from -credentials-paths for api.test only", () => {
  let proxy: RunningProxy;
  let tokenFile: string;
  const token = `fwd-${crypto.randomUUID()}`;
  beforeAll(async () => {
    const secrets = join(dir, "secrets");
    await mkdir(secrets);
    tokenFile = join(secrets, "api-token");
    await writeFile(tokenFile, `${token}\n`);
    // The Host predicate sees the raw Host header, port included.
    const route = `api: Host("^api[.]test(:[0-9]+)?$") -> bearerinjector("${tokenFile}") -> <dynamic>`;
    proxy = await startProxy(forwardArgs("-inline-routes", route, "-credentials-paths", secrets));
  });
  afterAll(() => proxy?.stop());

  test("curl -x to api.test: the upstream gets Authorization: Bearer <the file's token>; other.test through the same port gets no Authorization; the token is in no log line", async () => {
    const seen = await apiAndOther(proxy, "/injected", "/not-injected");
    expect(seen.api.url).toBe(`http://api.test:${api.port}/injected`);
    expect(seen.api.headers["authorization"]).toBe(`Bearer ${token}`);
    expect(seen.other.headers["authorization"]).toBeUndefined();
    // Access log lines for both are written by now (each is one line on completion).
    await proxy.waitForLog(/"GET \/injected HTTP\/1\.1" 200 /);
    await proxy.waitForLog(/"GET \/not-injected HTTP\/1\.1" 200 /);
    expect(proxy.logs.join("\n")).not.toContain(token);
  });
});
