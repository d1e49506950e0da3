/**
 * `npm run soak`: one sallyport under mixed traffic for minutes, to find what a 10-second
 * benchmark cannot — memory that only grows, requests or tunnels that never come down, errors
 * that need thousands of reloads and rotations, latency that creeps up.
 *
 *   npm run soak [-- --minutes N] [--rate R] [--workers N] [--out FILE] [--bin PATH] [--build] [--keep]
 *
 * What runs, all on 127.0.0.1 (no other address is ever dialled):
 * - nginx as the upstream (bench/servers.ts) with two more locations: `/flaky`, the 1 KiB body,
 *   but 0.5 % of the time a 500 marked `X-Soak-Failure` and 0.5 % a close without an answer
 *   (`return 444`), picked by nginx's split_clients on the request id; and `/slow`, 64 KiB at
 *   16 KiB/s, for clients to hang up on. It echoes the Authorization it received.
 * - sallyport (bench/sallyports.ts startSallyportSoak, `-workers 1` unless --workers), its route
 *   injecting a secret with `bearerinjector` from a `-credentials-paths` file.
 * - the load generators (bench/soak-load.ts), one Bun child process per kind of traffic: routed
 *   requests with the secret (55 %), absolute-form requests through `-forward-address` (25 %),
 *   GETs inside CONNECT tunnels (19 %), and clients that hang up at random moments (1 %). Each
 *   holds a fixed rate over a fixed number of connections, at most 100 req/s each, so its own CPU
 *   is what the rate costs (see that file for why not wrk); it is shown beside the proxy's.
 * - every 10 s the secret file is replaced (write + rename, as Kubernetes swaps a secret volume:
 *   an in-place `echo >` leaves a moment where the file is empty, which fails closed with 503 by
 *   design and would only be noise here), and every 30 s the routes file, every other time with a
 *   SIGHUP on top of the file poll. After each, a probe measures how long until responses show the
 *   new generation, and the generators count any response that still shows the old one too late.
 *
 * The rate: first, 5 s with the routed, forward and tunnel generators unthrottled (44 connections,
 * each sending as soon as it is answered, like wrk's 50) measures the maximum of this very mix on
 * this machine; the soak runs at 80 % of that (or at --rate). Not 80 % of the routed path's wrk
 * number from `npm run bench`: the mix costs the proxy more per request (tunnels open
 * connections, the forward port parses twice), so that rate would overload it and the soak would
 * measure queueing instead of leaks. The maximum counts the generators' CPU against the proxy's,
 * as wrk's does: the 2 cores are shared by all of it, and by other work on the machine, whose CPU
 * during the measurement is printed with it (a busy minute lowers the maximum, and so the rate).
 *
 * Every 10 s: requests, errors expected (the injected failures, the hang-ups) and unexpected (all
 * else: wrong statuses or bodies, a missing or stale secret or routes generation, connection
 * failures, timeouts, error lines in the logs), p50/p99, the proxy's RSS, heap, requests in flight
 * and open tunnels from its /metrics. At the end: PASS when there was no unexpected error and the
 * RSS at the end is within 10 % of the RSS after the first minute, else FAIL and exit 1. A section
 * is appended to bench/RESULTS.md (or --out) and the chart of latency and RSS over time is written
 * beside it as SVG. Not in CI: it takes minutes.
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { LogWatch } from "./logs.ts";
import type { RunFacts } from "./report.ts";
import { ancestors, cpuSnapshot, killAllSync, otherCpu, processTree, stopAll, trackTransient, treeCpuSeconds, treeRssKiB } from "./procs.ts";
import { replaceFile, type SoakProxy, startSallyportSoak } from "./sallyports.ts";
import { dirFor, MEDIUM_PATH, probe, SMALL_BODY_NGINX, startUpstream, type Upstream } from "./servers.ts";
import { addStats, appendSoakReport, type Counts, emptyCounts, type Maximum, type Observations, type Row, type SoakRun, sum } from "./soak-report.ts";
import { AUTH_ECHO_HEADER, FAILURE_HEADER, FLAKY_PATH, type Kind, type KindStats, type LoadSpec, ROUTES_HEADER, SLOW_PATH, TOKEN_PREFIX } from "./soak-load.ts";
import { commandLine, ensureBinary, ensureTools, gitDescribe, machine, versions } from "./tools.ts";

const ROOT = join(import.meta.dir, "..");
/** the Host of the soak route */
const HOST = "soak";
const SAMPLE_MS = 10_000;
const SECRET_EVERY_MS = 10_000;
const ROUTES_EVERY_MS = 30_000;
/**
 * How long after a new secret or routes file a response may still show the old one: the secret
 * is re-read on the file event (50 ms settle); the routes file is polled every 3 s (the default
 * -source-poll-timeout), and built in well under a second with these few routes.
 */
const SECRET_GRACE_MS = 2_000;
const ROUTES_GRACE_MS = 5_000;
const LOAD_SHARE = 0.8;
const MAXIMUM_SECONDS = 5;
const RSS_TOLERANCE = 0.1;
/** routes besides the soak route, renamed at every reload, so each reload rebuilds a table that changed */
const FILLER_ROUTES = 50;
/** a generator that has not answered a tick by then is stuck */
const TICK_TIMEOUT_MS = 5_000;

/**
 * Each kind's share of the requests, and its lanes while the maximum is measured (client
 * connections sending one request at a time as fast as they can; 44 together, about wrk's 50 of
 * `npm run bench`). Quitters are timers that start hang-ups without waiting for the last.
 */
const MIX: Record<Kind, { share: number; lanes: number }> = {
  routed: { share: 0.55, lanes: 24 },
  forward: { share: 0.25, lanes: 12 },
  tunnel: { share: 0.19, lanes: 8 },
  quitter: { share: 0.01, lanes: 2 },
};
const KINDS = Object.keys(MIX) as Kind[];
/**
 * In the soak, a keep-alive lane sends at most this many requests a second: one every 10 ms, a
 * few times the usual latency, so a slow answer rarely delays the lane's next turn (fewer lanes,
 * each busier, would fall behind on the kinds whose requests take longer).
 */
const LANE_RATE = 100;

const { values: opts } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    minutes: { type: "string", default: "10" },
    rate: { type: "string" },
    workers: { type: "string", default: "1" },
    out: { type: "string" },
    bin: { type: "string" },
    build: { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
  },
});

process.on("exit", killAllSync);
for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  process.on(signal, () => {
    killAllSync();
    process.exit(code);
  });
}

/** The upstream's soak locations (see the header comment). split_clients hashes the request id, which nginx draws at random per request. */
const UPSTREAM_EXTRAS = {
  http: `  split_clients "\${request_id}" $soak_fault {
    0.5% "500";
    0.5% "reset";
    * "";
  }`,
  server: `    add_header ${AUTH_ECHO_HEADER} $http_authorization always;
    location = ${FLAKY_PATH} {
      default_type text/plain;
      if ($soak_fault = "500") {
        add_header ${FAILURE_HEADER} injected always;
        add_header ${AUTH_ECHO_HEADER} $http_authorization always;
        return 500 "injected failure\\n";
      }
      if ($soak_fault = "reset") { return 444; }
      return 200 ${SMALL_BODY_NGINX};
    }
    location = ${SLOW_PATH} { limit_rate 16k; rewrite ^ ${MEDIUM_PATH} break; }`,
};

/**
 * The routes file of generation `gen`: the soak route, which names the generation in a response
 * header, and filler routes named after it. consecutiveBreaker(20) is there to be exercised: the
 * injected failures (1 %) open it once in 10^40 requests.
 */
function routesText(gen: number, secretFile: string, upstreamPort: number): string {
  const soak = `soak: Host("^${HOST}$") -> bearerinjector("${secretFile}") -> consecutiveBreaker(20) -> setResponseHeader("${ROUTES_HEADER}", "${gen}") -> "http://127.0.0.1:${upstreamPort}";`;
  const fillers = Array.from({ length: FILLER_ROUTES }, (_, i) => `g${gen}_${i}: Host("^g${gen}-${i}[.]soak$") -> status(204) -> <shunt>;`);
  return [soak, ...fillers].join("\n") + "\n";
}

/** Lines of a child's stdout. */
async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of stream) {
    rest += decoder.decode(chunk, { stream: true });
    for (let i = rest.indexOf("\n"); i >= 0; i = rest.indexOf("\n")) {
      yield rest.slice(0, i);
      rest = rest.slice(i + 1);
    }
  }
}

/** bench/soak-load.ts under the bun running this script, its stderr in `logDir` (it writes there only when it fails). */
function spawnLoad(spec: LoadSpec, logDir: string) {
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "soak-load.ts"), JSON.stringify(spec)], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: Bun.file(join(logDir, `${spec.kind}.log`)),
  });
  // in our process group: killed with us, also on Ctrl-C
  trackTransient(proc);
  return proc;
}

/** One load generator: told what to do on stdin, answering ticks on stdout. */
class LoadGenerator {
  readonly proc: ReturnType<typeof spawnLoad>;
  readonly #lines: AsyncGenerator<string>;

  constructor(
    readonly spec: LoadSpec,
    logDir: string,
  ) {
    this.proc = spawnLoad(spec, logDir);
    this.#lines = lines(this.proc.stdout);
  }

  tell(line: string): void {
    this.proc.stdin.write(line + "\n");
    this.proc.stdin.flush();
  }

  async tick(): Promise<KindStats> {
    this.tell("tick");
    const timeout = Bun.sleep(TICK_TIMEOUT_MS).then(() => ({ done: true, value: undefined }));
    const next = await Promise.race([this.#lines.next(), timeout]);
    if (next.done || !next.value) throw new Error(`the ${this.spec.kind} load generator did not answer within ${TICK_TIMEOUT_MS / 1000} s (exit ${this.proc.exitCode ?? "–"})`);
    return JSON.parse(next.value) as KindStats;
  }

  async stop(): Promise<void> {
    this.tell("stop");
    await Promise.race([this.proc.exited, Bun.sleep(3000)]);
    this.proc.kill("SIGKILL");
  }
}

/** Lanes of a kind at `rate` req/s: the mix's when unthrottled (0), else enough for LANE_RATE each. */
function lanesFor(kind: Kind, rate: number): number {
  return rate === 0 || kind === "quitter" ? MIX[kind].lanes : Math.ceil(rate / LANE_RATE);
}

function startGenerators(kinds: readonly Kind[], totalRate: number, proxy: SoakProxy, upstream: Upstream, logDir: string): LoadGenerator[] {
  return kinds.map((kind) =>
    new LoadGenerator(
      {
        kind,
        rate: totalRate * MIX[kind].share,
        lanes: lanesFor(kind, totalRate * MIX[kind].share),
        proxyPort: Number(new URL(proxy.url).port),
        forwardPort: proxy.forwardPort,
        upstreamPort: upstream.port,
        host: HOST,
      },
      logDir,
    ),
  );
}

/**
 * The maximum of the mix: the keep-alive kinds unthrottled for MAXIMUM_SECONDS after a second
 * of warm-up, requests per second over all of them. What they saw counts like the soak's.
 */
async function measureMaximum(proxy: SoakProxy, upstream: Upstream, logDir: string, seen: Counts): Promise<Maximum> {
  const generators = startGenerators(["routed", "forward", "tunnel"], 0, proxy, upstream, logDir);
  try {
    await Bun.sleep(1000);
    for (const s of await Promise.all(generators.map((g) => g.tick()))) addStats(seen, s);
    const t0 = performance.now();
    const machine0 = cpuSnapshot();
    await Bun.sleep(MAXIMUM_SECONDS * 1000);
    const stats = await Promise.all(generators.map((g) => g.tick()));
    const seconds = (performance.now() - t0) / 1000;
    const other = otherCpu(machine0, cpuSnapshot(), soakPids(proxy, upstream, generators)).seconds / seconds;
    for (const s of stats) addStats(seen, s);
    return { rps: stats.reduce((n, s) => n + s.requests, 0) / seconds, otherCpu: other };
  } finally {
    await Promise.all(generators.map((g) => g.stop()));
  }
}

/** The sum of every series of a metric in a /metrics text, or undefined when it has none. */
function metric(text: string, name: string): number | undefined {
  const values = [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "gm"))].map((m) => Number(m[1]));
  return values.length ? values.reduce((a, b) => a + b, 0) : undefined;
}

async function scrape(proxy: SoakProxy): Promise<string> {
  const r = await probe({ url: proxy.supportUrl }, "/metrics").catch(() => undefined);
  return r?.status === 200 ? new TextDecoder().decode(r.body) : "";
}

/** Polls the routed path until a response passes `served`: ms it took, or undefined after `limitMs`. */
async function timeUntilServed(proxy: SoakProxy, served: (h: Headers) => boolean, limitMs: number): Promise<number | undefined> {
  const t0 = performance.now();
  while (performance.now() - t0 < limitMs) {
    const r = await probe(proxy, FLAKY_PATH, 1000).catch(() => undefined);
    if (r && served(r.headers)) return performance.now() - t0;
    await Bun.sleep(20);
  }
  return undefined;
}

/**
 * Calls `action(1)`, `action(2)`, … at `firstMs`, then every `periodMs`, from `start` while before
 * `end` and `going()`; each awaited before the next is due.
 */
async function every(start: number, end: number, firstMs: number, periodMs: number, going: () => boolean, action: (n: number) => Promise<void>): Promise<void> {
  for (let n = 1, at = start + firstMs; at < end; n++, at += periodMs) {
    await Bun.sleep(Math.max(0, at - performance.now()));
    if (!going()) return;
    await action(n);
  }
}

/** Everything the soak changes and watches while it runs, and what it saw. */
interface Soak extends Observations {
  readonly proxy: SoakProxy;
  readonly upstream: Upstream;
  readonly generators: LoadGenerator[];
  readonly files: { routes: string; secret: string; staging: string };
  readonly logs: LogWatch;
}

function unexpected(soak: Soak, kind: string, n = 1): void {
  soak.unexpected[kind] = (soak.unexpected[kind] ?? 0) + n;
}

async function rotateSecret(soak: Soak, gen: number, start: number): Promise<void> {
  replaceFile(soak.files.secret, `${TOKEN_PREFIX}${gen}\n`, soak.files.staging);
  for (const g of soak.generators) g.tell(`gen secret ${gen} ${SECRET_GRACE_MS}`);
  const ms = await timeUntilServed(soak.proxy, (h) => h.get(AUTH_ECHO_HEADER) === `Bearer ${TOKEN_PREFIX}${gen}`, SECRET_GRACE_MS);
  soak.rotations.push({ gen, at: (performance.now() - start) / 1000, ms, how: "file event" });
  if (ms === undefined) unexpected(soak, `secret generation not served within ${SECRET_GRACE_MS / 1000} s of the rotation`);
}

async function reloadRoutes(soak: Soak, gen: number, start: number): Promise<void> {
  replaceFile(soak.files.routes, routesText(gen, soak.files.secret, soak.upstream.port));
  // every other reload also by signal, so both ways in are soaked
  const signal = gen % 2 === 0;
  if (signal) process.kill(soak.proxy.child!.pid, "SIGHUP");
  for (const g of soak.generators) g.tell(`gen routes ${gen} ${ROUTES_GRACE_MS}`);
  const ms = await timeUntilServed(soak.proxy, (h) => h.get(ROUTES_HEADER) === String(gen), ROUTES_GRACE_MS);
  soak.reloads.push({ gen, at: (performance.now() - start) / 1000, ms, how: signal ? "SIGHUP" : "file poll" });
  if (ms === undefined) unexpected(soak, `routes generation not served within ${ROUTES_GRACE_MS / 1000} s of the rewrite`);
}

/**
 * Log lines that are events of their own: sallyport's application log at warn or above, the first
 * line of an uncaught exception (its stack trace is not counted again), nginx's [warn] and worse,
 * and whatever a load generator prints (nothing, unless it fails).
 */
const LOG_EVENT = /level=(warn|warning|error|fatal|panic)\b|^(\w*Error|error): |\[(warn|error|crit|alert|emerg)\]/;

/** The log events since the last call, kept for the report and counted as unexpected; returns how many. */
function takeLogEvents(soak: Soak): number {
  const lines = soak.logs.newLines(true);
  // an exception's event line gets where it was thrown, the first `at` line of its stack trace
  const where = (i: number) => (/^\w*Error: /.test(lines[i]!) ? (lines.slice(i + 1, i + 12).find((l) => /^\s+at /.test(l))?.trim() ?? "") : "");
  const events = lines.flatMap((l, i) => (LOG_EVENT.test(l) ? [`${l} ${where(i)}`.trim()] : []));
  soak.logLines.push(...events);
  if (events.length) unexpected(soak, "error events in the logs of the proxy, nginx or a load generator", events.length);
  return events.length;
}

/** CPU seconds so far: the proxy's tree, the generators', and a snapshot of every process for "other". */
function cpuNow(soak: Soak) {
  return {
    proxy: treeCpuSeconds(soak.proxy.child!.pid),
    load: soak.generators.reduce((n, g) => n + treeCpuSeconds(g.proc.pid), 0),
    all: cpuSnapshot(),
  };
}

/** The processes that are the soak: this one and what started it, the proxy, nginx, the generators. */
function soakPids(proxy: SoakProxy, upstream: Upstream, generators: readonly LoadGenerator[]): Set<number> {
  const servers = [proxy, upstream].flatMap((t) => processTree(t.child!.pid));
  return new Set([process.pid, ...ancestors(process.pid), ...servers, ...generators.map((g) => g.proc.pid)]);
}

function proxyRunning(proxy: SoakProxy): boolean {
  return proxy.child!.proc.exitCode === null && proxy.child!.proc.signalCode === null;
}

/** One row every 10 s: the generators' counts, the proxy's memory and CPU, its /metrics, the logs. */
function sampler(soak: Soak, start: number) {
  let cpu = cpuNow(soak);
  let last = start;
  return async () => {
    const stats = await Promise.all(soak.generators.map((g) => g.tick()));
    const now = performance.now();
    const seconds = (now - last) / 1000;
    const cpuThen = cpu;
    cpu = cpuNow(soak);
    last = now;
    if (!proxyRunning(soak.proxy)) {
      // the soak ends here, and the report says so; a row of a dead process would read as RSS 0
      unexpected(soak, `sallyport exited during the soak (${soak.proxy.child!.proc.exitCode ?? soak.proxy.child!.proc.signalCode})`);
      return;
    }
    const interval = emptyCounts();
    for (const s of stats) {
      addStats(interval, s);
      addStats(soak.totals[s.kind], s);
    }
    const logEvents = takeLogEvents(soak);
    const metrics = await scrape(soak.proxy);
    const row: Row = {
      t: (now - start) / 1000,
      requests: interval.requests,
      rps: interval.requests / seconds,
      late: interval.late,
      expected: sum(interval.expected),
      unexpected: sum(interval.unexpected) + logEvents,
      p50: interval.latency.percentile(50),
      p99: interval.latency.percentile(99),
      rssMiB: treeRssKiB(soak.proxy.child!.pid).kib / 1024,
      heapMiB: (metric(metrics, "sallyport_heap_used_bytes") ?? NaN) / 2 ** 20,
      inFlight: metric(metrics, "sallyport_requests_in_flight"),
      tunnelsOpen: metric(metrics, "sallyport_tunnels_open"),
      proxyCpu: (cpu.proxy - cpuThen.proxy) / seconds,
      loadCpu: (cpu.load - cpuThen.load) / seconds,
      otherCpu: otherCpu(cpuThen.all, cpu.all, soakPids(soak.proxy, soak.upstream, soak.generators)).seconds / seconds,
    };
    soak.rows.push(row);
    printRow(row);
  };
}

const ms = (x: number | undefined) => (x === undefined ? "–" : x.toFixed(2));
const pct = (share: number) => `${Math.round(share * 100)} %`;

function printRow(r: Row): void {
  const clock = `${Math.floor(r.t / 60)}:${String(Math.round(r.t % 60)).padStart(2, "0")}`;
  console.log(
    `[soak] ${clock.padStart(5)}  ${Math.round(r.rps).toLocaleString("en-US").padStart(6)} req/s  p50 ${ms(r.p50)} ms  p99 ${ms(r.p99)} ms  RSS ${r.rssMiB.toFixed(1)} MiB  heap ${r.heapMiB.toFixed(1)} MiB  in flight ${r.inFlight ?? "–"}  tunnels ${r.tunnelsOpen ?? "–"}  expected ${r.expected}  unexpected ${r.unexpected}  CPU proxy ${pct(r.proxyCpu)} load ${pct(r.loadCpu)} other ${pct(r.otherCpu)}${r.late ? `  late ${r.late}` : ""}`,
  );
}

/**
 * After the load has stopped, the proxy should hold no request and no tunnel: polls /metrics for
 * up to 10 s and counts whatever is left as unexpected (a leak).
 */
async function leftovers(soak: Soak): Promise<SoakRun["leftovers"]> {
  let left: SoakRun["leftovers"] = {};
  for (let i = 0; i < 50; i++) {
    await Bun.sleep(200);
    const text = await scrape(soak.proxy);
    left = { inFlight: metric(text, "sallyport_requests_in_flight"), tunnelsOpen: metric(text, "sallyport_tunnels_open") };
    if (!left.inFlight && !left.tunnelsOpen) return left;
  }
  if (left.inFlight) unexpected(soak, "requests still in flight 10 s after the load stopped", left.inFlight);
  if (left.tunnelsOpen) unexpected(soak, "tunnels still open 10 s after the load stopped", left.tunnelsOpen);
  return left;
}

/** The soak proper: generators at `rate`, the rotations, reloads and samples on their clocks, then the leftovers. */
async function soakFor(soak: Soak, minutes: number): Promise<SoakRun["leftovers"]> {
  const start = performance.now();
  const end = start + minutes * 60_000;
  const sample = sampler(soak, start);
  const going = () => proxyRunning(soak.proxy);
  try {
    await Promise.all([
      // the last sample falls on the end itself
      every(start, end + 1, SAMPLE_MS, SAMPLE_MS, going, () => sample()),
      // the churn runs half-way between samples, so no interval starts or ends on one
      every(start, end, SECRET_EVERY_MS / 2, SECRET_EVERY_MS, going, (n) => rotateSecret(soak, n, start)),
      every(start, end, ROUTES_EVERY_MS / 2, ROUTES_EVERY_MS, going, (n) => reloadRoutes(soak, n, start)),
    ]);
  } finally {
    await Promise.all(soak.generators.map((g) => g.stop()));
  }
  return leftovers(soak);
}

/** The section's facts that do not come from the measurements, taken before the soak starts. */
async function facts(bin: string, stale: boolean, tools: Record<string, string>): Promise<RunFacts & { built: string }> {
  const built = new Date(statSync(bin).mtimeMs).toISOString().slice(0, 16).replace("T", " ");
  return {
    command: commandLine("soak", "bench/soak.ts"),
    date: new Date().toISOString(),
    machine: machine(),
    versions: await versions(tools, bin),
    commit: await gitDescribe(ROOT),
    binary: opts.bin ? `${opts.bin} (--bin)` : "dist/sallyport",
    built: `built ${built} UTC${stale ? ", older than src/ at the start and not rebuilt (pass --build)" : ""}`,
  };
}

/**
 * A copy of the binary in the run's dir, started from there: the checkout's dist/ may be rebuilt
 * while the soak runs (the end-to-end tests rebuild it when src/ is newer), and the soak must
 * keep one binary from start to end.
 */
function pinned(bin: string, dir: string): string {
  const copy = join(dir, "sallyport");
  copyFileSync(bin, copy);
  chmodSync(copy, 0o755);
  return copy;
}

async function main(): Promise<number> {
  const minutes = Number(opts.minutes);
  const workers = Number(opts.workers);
  if (!(minutes > 0)) throw new Error(`--minutes must be a positive number, not ${opts.minutes}`);
  if (!Number.isInteger(workers) || workers < 1) throw new Error(`--workers must be 1 or more, not ${opts.workers}`);
  const out = resolve(opts.out ?? join(ROOT, "bench/RESULTS.md"));
  const tools = await ensureTools(["nginx"]);
  if (!tools.nginx) throw new Error("nginx is required (apt-get install nginx)");
  const { bin, stale } = opts.bin ? { bin: resolve(opts.bin), stale: false } : await ensureBinary(ROOT, opts.build);
  const setting = await facts(bin, stale, tools);

  // Whatever happens, the soak ends: a hung phase is cut off here (children killed on exit).
  setTimeout(() => {
    console.error("soak overran its time by 5 minutes; killing everything");
    killAllSync();
    process.exit(2);
  }, (minutes * 60 + 300) * 1000).unref();

  const dir = mkdtempSync(join(tmpdir(), "sallyport-soak-"));
  // nginx's worker drops root and must still read the upstream's files in here
  chmodSync(dir, 0o755);
  let ok = false;
  try {
    const upstream = await startUpstream(dir, tools.nginx, 0, UPSTREAM_EXTRAS);
    const secrets = join(dir, "secrets");
    mkdirSync(secrets);
    const files = { routes: join(dirFor(dir, "routes"), "routes.eskip"), secret: join(secrets, "token"), staging: join(dir, "token.next") };
    writeFileSync(files.secret, `${TOKEN_PREFIX}0\n`);
    writeFileSync(files.routes, routesText(0, files.secret, upstream.port));
    const proxy = await startSallyportSoak(dir, pinned(bin, dir), upstream.port, { routes: files.routes, secrets }, workers, HOST);
    const loadDir = dirFor(dir, "load");
    const logs = new LogWatch([dirname(proxy.child!.log), dirname(upstream.child!.log), loadDir]);

    const duringMaximum = emptyCounts();
    const fixed = opts.rate !== undefined;
    console.log(fixed ? `rate fixed by --rate: ${opts.rate} req/s` : `measuring the maximum of the mix: ${MAXIMUM_SECONDS} s unthrottled`);
    const maximum = fixed ? undefined : await measureMaximum(proxy, upstream, loadDir, duringMaximum);
    const rate = fixed ? Number(opts.rate) : LOAD_SHARE * maximum!.rps;
    if (!(rate > 0)) throw new Error(`no rate to run at (${rate})`);
    const other = maximum ? ` (other processes used ${Math.round(maximum.otherCpu * 100)} % of a core meanwhile)` : "";
    console.log(`${maximum ? `maximum ${Math.round(maximum.rps).toLocaleString("en-US")} req/s${other}; ` : ""}soaking for ${minutes} min at ${Math.round(rate).toLocaleString("en-US")} req/s`);

    const soak: Soak = {
      proxy,
      upstream,
      generators: startGenerators(KINDS, rate, proxy, upstream, loadDir),
      files,
      logs,
      rows: [],
      totals: Object.fromEntries(KINDS.map((k) => [k, emptyCounts()])) as Record<Kind, Counts>,
      unexpected: {},
      logLines: [],
      rotations: [],
      reloads: [],
    };
    const left = await soakFor(soak, minutes);
    await stopAll();
    // logged after the last sample: while the load stopped, and the proxy's own shutdown
    takeLogEvents(soak);

    const run: SoakRun = {
      ...setting,
      minutes,
      workers,
      proxySetup: proxy.setup.replaceAll(dir, "DIR"),
      mix: MIX,
      lanes: Object.fromEntries(soak.generators.map((g) => [g.spec.kind, g.spec.lanes])) as Record<Kind, number>,
      laneRate: LANE_RATE,
      maximum,
      maximumSeconds: MAXIMUM_SECONDS,
      loadShare: LOAD_SHARE,
      rate,
      duringMaximum,
      observed: soak,
      leftovers: left,
      rssTolerance: RSS_TOLERANCE,
      graceMs: { secret: SECRET_GRACE_MS, routes: ROUTES_GRACE_MS },
      chart: join(dirname(out), `soak-${new Date().toISOString().slice(0, 19).replaceAll(":", "-")}.svg`),
    };
    const pass = appendSoakReport(run, out);
    console.log(`\n${pass ? "PASS" : "FAIL"}; appended to ${out}, chart ${basename(run.chart)}`);
    ok = true;
    return pass ? 0 : 1;
  } finally {
    await stopAll();
    if (ok && !opts.keep) rmSync(dir, { recursive: true, force: true });
    else console.log(`configs and logs kept in ${dir}`);
  }
}

process.exit(
  await main().catch((e) => {
    console.error(`soak failed: ${(e as Error).stack ?? e}`);
    return 2;
  }),
);
