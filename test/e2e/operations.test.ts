/**
 * Operations against the compiled binary: the access log (a line per request and per tunnel,
 * no secrets or queries, SIGUSR1 reopens the file after logrotate renamed it; none at all with
 * -access-log-disabled), the application log as logrus JSON, the output check every end-to-end
 * proxy gets when it stops (test/support/binary.ts), SIGTERM's drain.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ONE_PROCESS, rememberSecret, startProxy, type RunningProxy } from "../support/binary.ts";
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

describe("-access-log-disabled", () => {
  test("no access line for requests or tunnels while the application log goes on; without the flag, the same traffic is logged", async () => {
    const run = async (extra: string[]) => {
      const p = await startProxy(["-forward-address", "127.0.0.1:0", "-egress-allow", "127.0.0.1", "-connect-ports", String(upstream.port), "-inline-routes", `* -> "http://127.0.0.1:${upstream.port}"`, ...extra]);
      expect((await curl([`${p.url}/quiet`])).status).toBe(200);
      expect((await curl(["-p", "-x", p.forwardUrl!, "--noproxy", "", `http://127.0.0.1:${upstream.port}/quiet-tunnel`])).status).toBe(200);
      // The access log is flushed when the process exits: after stop() every line it wrote is in.
      expect(await p.stop()).toBe(0);
      return p.logs;
    };
    const [disabled, enabled] = await Promise.all([run(["-access-log-disabled"]), run([])]);
    const accessLines = (logs: string[]) => logs.filter((line) => COMBINED.test(line));
    // Two workers write to the one stderr: the lines come in either order.
    expect(accessLines(enabled).map((line) => COMBINED.exec(line)![4]).sort()).toEqual(["CONNECT", "GET"]);
    expect(accessLines(disabled)).toEqual([]);
    expect(disabled.filter((line) => line.includes("/quiet"))).toEqual([]);
    // The application log is still written: the start, and SIGTERM's drain.
    expect(disabled.some((line) => line.startsWith("[APP]") && line.includes("Listen on "))).toBe(true);
    expect(disabled.some((line) => line.startsWith("[APP]") && line.includes("SIGTERM: draining"))).toBe(true);
  });
});

describe("-application-log-json-enabled", () => {
  test("every line on stderr is a logrus JSON object: level, msg and time, and under -workers the worker that wrote it, nothing else", async () => {
    const json = await startProxy([
      "-application-log-json-enabled",
      "-workers", "2",
      "-access-log", join(dir, "json-run.log"),
      // a warning at the start (a Skipper flag accepted, not acted on)
      "-enable-prometheus-metrics",
      "-forward-address", "127.0.0.1:0",
      "-connect-ports", String(upstream.port),
      "-egress-allow", "127.0.0.1",
      "-inline-routes", `* -> "http://127.0.0.1:${upstream.port}"`,
    ]);
    expect((await curl([`${json.url}/json`])).status).toBe(200);
    // An egress denial: a decision line with its fields.
    expect((await curl(["-p", "-x", json.forwardUrl!, "--noproxy", "", `http://127.0.0.2:${upstream.port}/denied`])).status).not.toBe(0);
    await json.waitForLog(/egress deny/);
    json.proc.kill("SIGHUP");
    await json.waitForLog(/SIGHUP/);
    expect(await json.stop()).toBe(0);
    const parsed = json.logs.map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        return line;
      }
    });
    expect(parsed.filter((entry) => typeof entry === "string")).toEqual([]);
    for (const entry of parsed as Record<string, unknown>[]) {
      expect(Object.keys(entry)).toEqual(["level", "msg", "time", "worker"]);
      expect(entry.worker).toBeOneOf([0, 1]);
      expect(["trace", "debug", "info", "warning", "error", "fatal", "panic"]).toContain(entry.level as string);
      expect(typeof entry.msg).toBe("string");
      expect(Number.isNaN(Date.parse(entry.time as string))).toBe(false);
    }
    const messages = (parsed as { level: string; msg: string }[]).map((entry) => `${entry.level} ${entry.msg}`);
    for (const wanted of [/^info Listen on /, /^warning flag -enable-prometheus-metrics is accepted/, /^info egress deny /, /^info SIGHUP/, /^info SIGTERM: draining/]) {
      expect(messages.some((m) => wanted.test(m))).toBe(true);
    }
  });
});

describe("the output check of every end-to-end proxy (test/support/binary.ts)", () => {
  test("stop() fails when a secret's value reached stderr or the access log file, or a value a helper remembered did", async () => {
    const secrets = join(dir, "leak-secrets");
    const { mkdir } = await import("node:fs/promises");
    await mkdir(secrets);
    await writeFile(join(secrets, "token"), "ops-leaked-file-value-4d2\n");
    rememberSecret("ops-leaked-remembered-8e1\n");
    const leakLog = join(dir, "leak-access.log");
    const route = ["-inline-routes", `* -> "http://127.0.0.1:${upstream.port}"`];
    // The secret turns up as a request path the access log writes: on stderr, in a file, and a
    // remembered value no file holds.
    const [onStderr, inFile, remembered] = await Promise.all([
      startProxy([...route, "-credentials-paths", secrets]),
      startProxy([...route, `-credentials-paths=${secrets}`, "-access-log", leakLog]),
      startProxy(route),
    ]);
    await curl([`${onStderr.url}/ops-leaked-file-value-4d2`]);
    await curl([`${inFile.url}/ops-leaked-file-value-4d2`]);
    await curl([`${remembered.url}/x/ops-leaked-remembered-8e1`]);
    await expect(onStderr.stop()).rejects.toThrow(/secret values in the proxy's output:\n.*"GET \/ops-leaked-file-value-4d2 /);
    await expect(inFile.stop()).rejects.toThrow(/secret values in the proxy's output:\n.*"GET \/ops-leaked-file-value-4d2 /);
    await expect(remembered.stop()).rejects.toThrow(/secret values in the proxy's output:\n.*"GET \/x\/ops-leaked-remembered-8e1 /);
    // The file's path in the log is not a leak, even for a secret named like its value.
    expect(inFile.logs.some((line) => line.includes(`Added secret file: ${join(secrets, "token")}`))).toBe(true);
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
    // One process: under -workers each process stops accepting a few ms apart, and a connection
    // made right after the first one's "draining" line can still land on another
    // (test/e2e/workers.test.ts drains a fleet).
    const p = await startProxy([...ONE_PROCESS, "-wait-for-healthcheck-interval", "600ms", "-shutdown-timeout", "10s", "-access-log-disabled", "-inline-routes", `* -> "http://127.0.0.1:${slow.port}"`]);
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
