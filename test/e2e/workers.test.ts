/**
 * `-workers N` end to end against the compiled binary: the primary serves as worker 0 and starts
 * N-1 processes that share the port, gathers every /metrics into one scrape, starts a killed
 * worker again, passes SIGHUP on to every worker, and drains them all on SIGTERM; a port in use
 * fails the start.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, writeFile } from "node:fs/promises";
import { existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBinary, startProxy } from "../support/binary.ts";

let upstream: ReturnType<typeof Bun.serve>;
beforeAll(() => {
  upstream = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("from upstream") });
});
afterAll(() => upstream.stop(true));

/** The pids of `pid`'s children. */
function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
}

/** The processes serving: the primary (worker 0) and its children. */
function servingPids(pid: number): number[] {
  return [pid, ...childrenOf(pid)];
}

/** Which process holds each established connection to `port` on our side, from ss. */
async function serversOf(port: number): Promise<Set<number>> {
  const ss = Bun.spawnSync(["ss", "-Htnp", "state", "established", `( sport = :${port} )`]);
  return new Set([...ss.stdout.toString().matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])));
}

/** `n` GETs, each on a connection of its own, answered in full. */
async function fresh(url: string, n: number): Promise<string[]> {
  return Promise.all(Array.from({ length: n }, () => fetch(url, { headers: { connection: "close" } }).then((r) => r.text())));
}

test("-workers 2: two processes share the port, /metrics adds them up, a killed worker comes back, SIGHUP reaches both, SIGTERM drains both", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sallyport-workers-"));
  const routes = join(dir, "routes.eskip");
  await writeFile(routes, `r: * -> "http://127.0.0.1:${upstream.port}";`);
  const proxy = await startProxy(["-workers", "2", "-routes-file", routes, "-source-poll-timeout", "3600000"]);
  try {
    await proxy.waitForLog(/2 workers serving/);
    const workers = servingPids(proxy.proc.pid);
    expect(workers).toHaveLength(2);

    // Both serve: twenty kept-open connections land on both processes.
    const sockets = await Promise.all(Array.from({ length: 20 }, () => Bun.connect({ hostname: "127.0.0.1", port: proxy.port, socket: { data() {} } })));
    let holders = new Set<number>();
    for (let i = 0; i < 100 && holders.size < 2; i++) {
      holders = await serversOf(proxy.port);
      await Bun.sleep(10);
    }
    for (const s of sockets) s.end();
    expect([...holders].sort()).toEqual([...workers].sort());

    // One scrape, both workers' counts in it.
    const answers = await fresh(proxy.url + "/x", 40);
    expect(answers.every((a) => a === "from upstream")).toBe(true);
    const scrape = await (await fetch(proxy.supportUrl + "/metrics")).text();
    const served = [...scrape.matchAll(/^sallyport_requests_total\{[^}]*code="2xx"[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    expect(served).toBe(40);
    expect(scrape).toContain("sallyport_workers 2\n");
    expect((await fetch(proxy.supportUrl + "/readyz")).status).toBe(200);
    expect((await fetch(proxy.supportUrl + "/routes")).headers.get("x-count")).toBe("1");

    // A worker that dies is started again; the port is served all along.
    const [, child] = workers as [number, number];
    process.kill(child, "SIGKILL");
    await proxy.waitForLog(new RegExp(`worker 1 \\(pid ${child}\\) exited`));
    expect((await fresh(proxy.url + "/y", 10)).every((a) => a === "from upstream")).toBe(true);
    let now: number[] = [];
    for (let i = 0; i < 300 && !(now.length === 2 && !now.includes(child)); i++) {
      now = servingPids(proxy.proc.pid);
      await Bun.sleep(10);
    }
    expect(now).toHaveLength(2);
    expect(now).not.toContain(child);
    let restarted = "";
    for (let i = 0; i < 300 && !/sallyport_worker_restarts_total 1\n/.test(restarted); i++) {
      restarted = await (await fetch(proxy.supportUrl + "/metrics")).text();
      await Bun.sleep(10);
    }
    expect(restarted).toContain("sallyport_worker_restarts_total 1\n");

    // SIGHUP to the primary: every worker re-reads the routes.
    await writeFile(routes, `r: * -> inlineContent("after the reload") -> <shunt>;`);
    proxy.proc.kill("SIGHUP");
    let after = [""];
    for (let i = 0; i < 300 && !after.every((a) => a === "after the reload"); i++) after = await fresh(proxy.url + "/z", 20);
    expect(after.every((a) => a === "after the reload")).toBe(true);

    // SIGTERM drains both workers, then the primary exits 0.
    const pids = childrenOf(proxy.proc.pid);
    expect(await proxy.stop()).toBe(0);
    expect(proxy.logs.some((l) => /SIGTERM: draining in-flight requests/.test(l))).toBe(true);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  } finally {
    proxy.proc.kill("SIGKILL");
  }
}, 30_000);

test("-workers 2 with the port in use: the start fails with the flag and the reason, exit 1, no worker left", async () => {
  const taken = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  try {
    const { code, stderr } = await runBinary(["-workers", "2", "-address", `127.0.0.1:${taken.port}`, "-inline-routes", "* -> <shunt>"]);
    expect(code).toBe(1);
    expect(stderr).toContain(`-address 127.0.0.1:${taken.port}: address already in use`);
  } finally {
    taken.stop(true);
  }
});

/** An upstream that holds every request until `release()`; `arrived` resolves with the first. */
function holdingUpstream() {
  const { promise: released, resolve: release } = Promise.withResolvers<void>();
  const { promise: arrived, resolve: arrive } = Promise.withResolvers<void>();
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch() {
      arrive();
      await released;
      return new Response("finished");
    },
  });
  return {
    server,
    arrived,
    release,
    /** lets every request go and stops the server */
    stop() {
      release();
      server.stop(true);
    },
  };
}

test("-workers 2 with the support port in use: one line names the flag and the reason, exit 1, no worker started again or left", async () => {
  const taken = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  try {
    const { code, stderr } = await runBinary(["-workers", "2", "-address", "127.0.0.1:0", "-support-listener", `127.0.0.1:${taken.port}`, "-inline-routes", "* -> <shunt>"]);
    expect(code).toBe(1);
    expect(stderr.split("\n").filter((l) => l.includes("Failed to start sallyport"))).toEqual([expect.stringContaining(`-support-listener 127.0.0.1:${taken.port}: address already in use`)]);
    expect(stderr).not.toContain("starting it again");
  } finally {
    taken.stop(true);
  }
});

test("-workers 2, Ctrl-C: workers that got SIGINT from the terminal still finish in-flight requests when the primary's SIGTERM follows", async () => {
  const held = holdingUpstream();
  const { server: slow, arrived, release } = held;
  const proxy = await startProxy(["-workers", "2", "-inline-routes", `* -> "http://127.0.0.1:${slow.port}"`]);
  try {
    await proxy.waitForLog(/2 workers serving/);
    const inflight = fetch(proxy.url + "/slow").then((r) => r.text());
    await arrived;
    // What a terminal's Ctrl-C does: SIGINT to the whole process group.
    for (const pid of [proxy.proc.pid, ...childrenOf(proxy.proc.pid)]) process.kill(pid, "SIGINT");
    await proxy.waitForLog(/SIGINT: draining in-flight requests/);
    await Bun.sleep(200);
    release();
    expect(await inflight).toBe("finished");
    expect(await proxy.proc.exited).toBe(0);
  } finally {
    proxy.proc.kill("SIGKILL");
    held.stop();
  }
}, 30_000);

test("-workers 2: when the primary is killed outright, its workers drain and exit instead of holding the port", async () => {
  const proxy = await startProxy(["-workers", "2", "-inline-routes", `* -> "http://127.0.0.1:${upstream.port}"`]);
  let workers: number[] = [];
  const alive = () =>
    workers.filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
  try {
    await proxy.waitForLog(/2 workers serving/);
    workers = childrenOf(proxy.proc.pid);
    expect(workers).toHaveLength(1);
    proxy.proc.kill("SIGKILL");
    await proxy.proc.exited;
    for (let i = 0; i < 500 && alive().length > 0; i++) await Bun.sleep(10);
    expect(alive()).toEqual([]);
    await proxy.waitForLog(/the primary is gone: draining/);
  } finally {
    proxy.proc.kill("SIGKILL");
    for (const pid of alive()) process.kill(pid, "SIGKILL");
  }
}, 30_000);

/** For each established connection to `port`: the client's port → the pid of the process holding it, from ss. */
function holdersOf(port: number): Map<number, number> {
  const ss = Bun.spawnSync(["ss", "-Htnp", "state", "established", `( sport = :${port} )`]).stdout.toString();
  return new Map([...ss.matchAll(/:(\d+)\s+users:\(\("[^"]*",pid=(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]));
}

/**
 * `perWorker` requests for `path` sent to each of `workers`, each on a connection of its own: the
 * connections are opened first, and ss tells which worker holds which. The statuses, sorted.
 */
async function onEachWorker(port: number, workers: readonly number[], perWorker: number, path: string, headers = ""): Promise<number[]> {
  const connect = () => {
    const { promise, resolve } = Promise.withResolvers<number>();
    let head = "";
    const socket = Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        data(_s, bytes) {
          head += bytes.toString();
        },
        close: () => resolve(Number(head.slice(9, 12))),
        error: () => resolve(0),
      },
    });
    return socket.then((s) => ({ socket: s, status: promise }));
  };
  const chosen = new Map<number, Awaited<ReturnType<typeof connect>>[]>(workers.map((pid) => [pid, []]));
  const spare: Awaited<ReturnType<typeof connect>>[] = [];
  for (let round = 0; round < 20 && [...chosen.values()].some((c) => c.length < perWorker); round++) {
    const opened = await Promise.all(Array.from({ length: perWorker * workers.length }, connect));
    let holders = holdersOf(port);
    for (let i = 0; i < 100 && opened.some((c) => !holders.has(c.socket.localPort)); i++) {
      await Bun.sleep(10);
      holders = holdersOf(port);
    }
    for (const c of opened) {
      const mine = chosen.get(holders.get(c.socket.localPort) ?? 0);
      (mine && mine.length < perWorker ? mine : spare).push(c);
    }
  }
  for (const c of spare) c.socket.end();
  const used = [...chosen.values()].flat();
  expect(used).toHaveLength(perWorker * workers.length);
  for (const c of used) c.socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers}\r\n`);
  return (await Promise.all(used.map((c) => c.status))).sort();
}

test("-workers 2: rate limits and breakers are the primary's, so they hold for both workers together", async () => {
  let failing = true;
  const backend = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(failing ? "down" : "up", { status: failing ? 500 : 200 }) });
  const routes = [
    `limited: Path("/limited") -> ratelimit(5, "1h") -> "http://127.0.0.1:${upstream.port}"`,
    `client: Path("/client") -> clientRatelimit(3, "1h", "X-Tenant") -> "http://127.0.0.1:${upstream.port}"`,
    `broken: Path("/broken") -> consecutiveBreaker(4, "1h") -> "http://127.0.0.1:${backend.port}"`,
  ].join(";\n");
  const proxy = await startProxy(["-workers", "2", "-inline-routes", routes, "-ratelimits", "type=client,max-hits=40,time-window=1h"]);
  try {
    await proxy.waitForLog(/2 workers serving/);
    const workers = servingPids(proxy.proc.pid);
    const count = (statuses: number[], status: number) => statuses.filter((s) => s === status).length;
    const limited = await onEachWorker(proxy.port, workers, 10, "/limited");
    expect([count(limited, 200), count(limited, 429)]).toEqual([5, 15]);
    const tenant = await onEachWorker(proxy.port, workers, 4, "/client", "X-Tenant: a\r\n");
    expect([count(tenant, 200), count(tenant, 429)]).toEqual([3, 5]);

    // Two failures seen by each worker, four in all, open the breaker; then both refuse.
    expect(await onEachWorker(proxy.port, workers, 2, "/broken")).toEqual([500, 500, 500, 500]);
    await proxy.waitForLog(/circuit breaker 127\.0\.0\.1:\d+ went from closed to open/);
    failing = false;
    expect(await onEachWorker(proxy.port, workers, 3, "/broken")).toEqual(Array(6).fill(503));
    const scrape = await (await fetch(proxy.supportUrl + "/metrics")).text();
    expect(scrape).toMatch(/sallyport_circuit_breaker_state\{host="127\.0\.0\.1:\d+",state="open"\} 1\n/);
    expect(scrape).toMatch(/sallyport_circuit_breaker_transitions_total\{host="127\.0\.0\.1:\d+",from="closed",to="open"\} 1\n/);
    expect(scrape).toMatch(/sallyport_ratelimit_rejections_total\{limit="service"\} 15\n/);
    // The global -ratelimits (40 per client; every client here is 127.0.0.1) has counted 38 so far.
    const global = await onEachWorker(proxy.port, workers, 5, "/client", "X-Tenant: b\r\n");
    expect([count(global, 200), count(global, 429)]).toEqual([2, 8]);
    // The state change is logged once, by the primary.
    expect(proxy.logs.filter((line) => line.includes("went from closed to open"))).toHaveLength(1);
  } finally {
    await proxy.stop();
    backend.stop(true);
  }
});

test("-workers 2, SIGTERM while the primary still serves a slow request and the other worker is gone: /readyz says 503 until the primary has drained too, then exit 0", async () => {
  const held = holdingUpstream();
  const { server: slow, arrived, release } = held;
  const proxy = await startProxy(["-workers", "2", "-inline-routes", `* -> "http://127.0.0.1:${slow.port}"`]);
  try {
    await proxy.waitForLog(/2 workers serving/);
    const [other] = childrenOf(proxy.proc.pid) as [number];
    // One request, on a connection the primary itself holds.
    const statuses = onEachWorker(proxy.port, [proxy.proc.pid], 1, "/slow");
    await arrived;
    proxy.proc.kill("SIGTERM");
    // The other worker had nothing in flight: it exits at once.
    const gone = () => !existsSync(`/proc/${other}`) || readFileSync(`/proc/${other}/stat`, "utf8").split(") ")[1]!.startsWith("Z");
    for (let i = 0; i < 500 && !gone(); i++) await Bun.sleep(10);
    expect(gone()).toBe(true);
    expect((await fetch(proxy.supportUrl + "/readyz")).status).toBe(503);
    release();
    expect(await statuses).toEqual([200]);
    expect(await proxy.proc.exited).toBe(0);
  } finally {
    proxy.proc.kill("SIGKILL");
    held.stop();
  }
}, 30_000);
