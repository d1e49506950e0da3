/**
 * Operations against the compiled binary: the access log (a line per request and per tunnel,
 * no secrets or queries, SIGUSR1 reopens the file after logrotate renamed it).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, readFile, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startProxy, type RunningProxy } from "../support/binary.ts";
import { curl } from "../support/curl.ts";

let upstream: ReturnType<typeof Bun.serve>;
let proxy: RunningProxy;
let dir: string;
let accessLog: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sallyport-ops-"));
  accessLog = join(dir, "access.log");
  upstream = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => new Response(`seen ${new URL(req.url).pathname}`) });
  proxy = await startProxy([
    "-forward-address", "127.0.0.1:0",
    "-egress-allow", "127.0.0.1",
    "-connect-ports", String(upstream.port),
    "-access-log", accessLog,
    "-inline-routes", `r: * -> setRequestHeader("Authorization", "Bearer route-secret") -> "http://127.0.0.1:${upstream.port}"`,
  ]);
});

afterAll(async () => {
  await proxy?.stop();
  upstream?.stop(true);
  await rm(dir, { recursive: true, force: true });
});

/** The file's lines once it has `count` of them (the log is flushed in batches, on a short timer). */
async function lines(path: string, count: number): Promise<string[]> {
  let got: string[] = [];
  for (let i = 0; i < 200; i++) {
    got = (await readFile(path, "utf8").catch(() => "")).split("\n").filter(Boolean);
    if (got.length >= count) return got;
    await Bun.sleep(20);
  }
  throw new Error(`${path}: ${got.length} lines, not ${count}:\n${got.join("\n")}`);
}

const COMBINED = /^(\S+) - (\S+) \[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d{3}) (\d+) "([^"]*)" "([^"]*)" (\d+) (\S+) (\S+) (\S+)(?: (\d+) (\S+) (\S+))?$/;

describe("the access log", () => {
  test("one combined line per request and per tunnel, without secrets or queries; SIGUSR1 reopens the file", async () => {
    await curl([`${proxy.url}/a/b?token=query-secret`, "-H", "Authorization: Bearer client-secret", "-A", "ops-test/1", "-H", "X-Flow-Id: flow-1"]);
    await curl(["-p", "-x", proxy.forwardUrl!, "--noproxy", "", `http://127.0.0.1:${upstream.port}/through-tunnel`, "--proxy-header", "Proxy-Authorization: Basic cHJveHk6c2VjcmV0"]);
    const [request, tunnel] = await lines(accessLog, 2);

    const r = COMBINED.exec(request!)!;
    expect(r).not.toBeNull();
    expect([r[1], r[4], r[5], r[6], r[7], r[10], r[12], r[13]]).toEqual(["127.0.0.1", "GET", "/a/b", "HTTP/1.1", "200", "ops-test/1", `127.0.0.1:${proxy.port}`, "flow-1"]);
    expect(Number(r[8])).toBe("seen /a/b".length);

    const t = COMBINED.exec(tunnel!)!;
    expect(t).not.toBeNull();
    expect([t[4], t[5], t[7], t[16], t[17]]).toEqual(["CONNECT", `127.0.0.1:${upstream.port}`, "200", `127.0.0.1:${upstream.port}`, "allow-rule"]);
    expect(Number(t[8])).toBeGreaterThan(0); // the upstream's answer, through the tunnel
    expect(Number(t[15])).toBeGreaterThan(0); // curl's request, through the tunnel

    const text = await readFile(accessLog, "utf8");
    for (const secret of ["query-secret", "client-secret", "route-secret", "cHJveHk6c2VjcmV0", "token="]) expect(text).not.toContain(secret);

    await rename(accessLog, `${accessLog}.1`);
    proxy.proc.kill("SIGUSR1");
    await proxy.waitForLog(/SIGUSR1: reopening the access log/);
    // The reopen runs after the log line: poll until a request lands in the new file.
    let after: string[] = [];
    for (let i = 0; i < 50 && after.length === 0; i++) {
      await curl([`${proxy.url}/after-rotation`]);
      after = (await readFile(accessLog, "utf8").catch(() => "")).split("\n").filter(Boolean);
      if (after.length === 0) await Bun.sleep(20);
    }
    expect(after.some((line) => line.includes('"GET /after-rotation HTTP/1.1" 200'))).toBe(true);
    expect((await readFile(`${accessLog}.1`, "utf8")).split("\n").filter(Boolean).length).toBeGreaterThanOrEqual(2);
  });
});

describe("SIGTERM", () => {
  test("/readyz turns 503 while requests are still served for -wait-for-healthcheck-interval, then a streamed download in flight completes, new connections are refused, exit 0", async () => {
    // A download that takes a while: 40 chunks, one every 25 ms.
    const slow = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: () => {
        let n = 0;
        return new Response(
          new ReadableStream({
            async pull(c) {
              await Bun.sleep(25);
              c.enqueue(new TextEncoder().encode(`chunk ${n}\n`));
              if (++n === 40) c.close();
            },
          }),
        );
      },
    });
    const p = await startProxy(["-wait-for-healthcheck-interval", "600ms", "-shutdown-timeout", "10s", "-access-log-disabled", "-inline-routes", `* -> "http://127.0.0.1:${slow.port}"`]);
    try {
      expect((await fetch(`${p.supportUrl}/readyz`)).status).toBe(200);
      // Its headers are in: the download is under way.
      const download = (await fetch(`${p.url}/big`)).text();
      p.proc.kill("SIGTERM");
      await p.waitForLog(/SIGTERM: \/readyz answers 503/);
      expect((await fetch(`${p.supportUrl}/readyz`)).status).toBe(503);
      expect((await fetch(`${p.supportUrl}/healthz`)).status).toBe(200);
      // Still serving while load balancers move away.
      expect((await fetch(`${p.url}/during-wait`, { keepalive: false })).status).toBe(200);
      await p.waitForLog(/SIGTERM: draining in-flight requests and tunnels/);
      await expect(fetch(`${p.url}/after`, { keepalive: false })).rejects.toThrow();
      const body = await download;
      expect(body.split("\n").filter(Boolean)).toHaveLength(40);
      expect(await p.proc.exited).toBe(0);
    } finally {
      p.proc.kill("SIGKILL");
      slow.stop(true);
    }
  });
});
