/**
 * @module
 * Scenario 5, the size of the route table: sallyports with 10 up to 100,000 Host routes (the
 * mode's sizes) in a -routes-file, requests naming the last route, in the 50-connection 1 KiB
 * shape, alternating; then reloads: the file is rewritten with its first route answering a new
 * host, SIGHUP asks for the re-read, and the reload time is from the rewrite to the first request
 * the new table serves (polled every few ms through the proxy), checked against the log's
 * "route settings applied, N routes" line. Polling by -source-poll-timeout would add up to one
 * interval (3 s by default) in front of that. Last, bench/routes-reload.ts's in-process
 * breakdown of parse, build and event-loop stalls for the largest size.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Mode } from "../modes.ts";
import { resetPeakRss, treePeakRssKiB } from "../procs.ts";
import { median, type PlainTable, seriesTable } from "../results.ts";
import { type Contender, runRounds, startAll, type Started, stopStarted } from "../rounds.ts";
import { type RouteTable, startSallyportRouteTable } from "../sallyports.ts";
import { probe, SMALL_PATH } from "../servers.ts";
import { thousands, wrkLoad, wrkTitle } from "./loads.ts";
import { type Ctx, type Scenario, targetsOf, wrkSeconds } from "./types.ts";

const ROOT = join(import.meta.dir, "../..");
/** how long one reload may take before it counts as failed */
const RELOAD_LIMIT_MS = 120_000;

const label = (n: number) => `${thousands(n)} routes`;

/** The sizes, plus the `\.` spelling at the largest size up to 10,000 (the two spellings used to differ). */
function contenders(ctx: Ctx): Contender[] {
  const { dir, bin, upstream } = ctx;
  const counts = ctx.mode.routeCounts;
  const list: Contender[] = counts.map((n) => ({ name: label(n), start: () => startSallyportRouteTable(dir, bin, upstream.port, n) }));
  const backslash = Math.max(...counts.filter((n) => n <= 10_000));
  list.push({ name: `${label(backslash)} \`\\.\``, start: () => startSallyportRouteTable(dir, bin, upstream.port, backslash, "\\.") });
  return list;
}

/** How many "route settings applied" lines the log has, and the route count of the last one. */
function appliedLines(log: string): { count: number; routes?: number } {
  const lines = readFileSync(log, "utf8").split("\n").filter((l) => l.includes("route settings applied"));
  const m = /route settings applied, (\d+) routes/.exec(lines.at(-1) ?? "");
  return { count: lines.length, routes: m ? Number(m[1]) : undefined };
}

interface Reload {
  readonly ms?: number;
  readonly peakRssMiB?: number;
  readonly failure?: string;
}

/**
 * Rewrites `t`'s file so route r0 answers `host`, sends SIGHUP, and polls `host` through the proxy
 * until it is served (200); then waits for the log line saying the table was applied, and checks
 * its route count.
 */
async function reloadOnce(t: RouteTable, host: string): Promise<Reload> {
  const child = t.child!;
  const before = appliedLines(child.log).count;
  resetPeakRss(child.pid);
  const t0 = performance.now();
  t.rewrite(host);
  process.kill(child.pid, "SIGHUP");
  let ms: number | undefined;
  while (performance.now() - t0 < RELOAD_LIMIT_MS) {
    const r = await probe({ url: t.url, host }, SMALL_PATH, 10_000).catch(() => undefined);
    if (r?.status === 200) {
      ms = performance.now() - t0;
      break;
    }
    await Bun.sleep(2);
  }
  if (ms === undefined) return { failure: `not served by the new table within ${RELOAD_LIMIT_MS / 1000} s` };
  const deadline = performance.now() + 10_000;
  let applied = appliedLines(child.log);
  while (applied.count <= before && performance.now() < deadline) {
    await Bun.sleep(20);
    applied = appliedLines(child.log);
  }
  const peakRssMiB = treePeakRssKiB(child.pid).kib / 1024;
  if (applied.count <= before) return { ms, peakRssMiB, failure: "no \"route settings applied\" line logged" };
  if (applied.routes !== t.count) return { ms, peakRssMiB, failure: `the log says ${applied.routes} routes applied, expected ${t.count}` };
  return { ms, peakRssMiB };
}

/** `rounds` reloads of every table, round-robin as the wrk rounds. */
async function reloads(ctx: Ctx, started: Started[], rounds: number): Promise<PlainTable> {
  const running = started.filter((s) => s.target);
  const results = new Map<string, Reload[]>(running.map((s) => [s.name, []]));
  for (let round = 1; round <= rounds; round++) {
    for (let i = 0; i < running.length; i++) {
      const s = running[(i + round - 1) % running.length]!;
      const r = await reloadOnce(s.target as RouteTable, `reload${round}.example.com`);
      results.get(s.name)!.push(r);
      ctx.progress(`[routes] reload ${round}/${rounds} · ${s.name}: ${r.ms === undefined ? "–" : `${r.ms.toFixed(0)} ms`}${r.failure ? ` ⚠ ${r.failure}` : ""}`);
    }
  }
  const data = running.map((s) => {
    const list = results.get(s.name)!;
    const ms = list.map((r) => r.ms).filter((x): x is number => x !== undefined);
    const rss = list.map((r) => r.peakRssMiB).filter((x): x is number => x !== undefined);
    return { name: s.name, routes: (s.target as RouteTable).count, medianMs: ms.length ? median(ms) : undefined, ms, peakRssMiB: rss.length ? Math.max(...rss) : undefined, failures: list.flatMap((r) => (r.failure ? [r.failure] : [])) };
  });
  return {
    kind: "plain",
    id: "routes/reload",
    title: "Reload: rewrite the -routes-file (route r0 gets a new host), SIGHUP, first request served by the new table",
    intro: "ms from the start of the rewrite (write to a temp file, rename over the routes file, SIGHUP) to the first 200 for the new host (polled every ~2 ms through the proxy), median and each reload; peak RSS of sallyport during the reload (both tables alive); a reload fails when the new host is not served, or the log's \"route settings applied\" line is missing or names another route count.",
    head: ["table", "reload ms (median)", "each reload ms", "peak RSS MiB", "failures"],
    cells: data.map((d) => [d.name, d.medianMs === undefined ? "–" : d.medianMs.toFixed(0), d.ms.map((x) => x.toFixed(0)).join(", ") || "–", d.peakRssMiB === undefined ? "–" : d.peakRssMiB.toFixed(1), d.failures.length ? `**${d.failures.length}: ${d.failures[0]}**` : "0"]),
    data,
    errors: data.reduce((n, d) => n + d.failures.length, 0),
  };
}

/** bench/routes-reload.ts for `routes` routes: parse, build and stalls in one process, bounded. */
async function breakdown(routes: number): Promise<{ ok: boolean; text: string }> {
  const p = Bun.spawn([process.execPath, "run", join(ROOT, "bench/routes-reload.ts"), String(routes)], { cwd: ROOT, stdout: "pipe", stderr: "pipe", timeout: 300_000, killSignal: "SIGKILL" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  return code === 0 ? { ok: true, text: out } : { ok: false, text: `bench/routes-reload.ts exited ${code}\n${out}${err}` };
}

/** Starting 100,000 routes takes seconds, a reload of them about as long. */
const tableSeconds = (mode: Mode) => mode.routeCounts.reduce((s, n) => s + 1 + n / 25_000, 1) * (1 + mode.rounds);

export const routes: Scenario = {
  id: "routes",
  title: "5. Route table size",
  estimateSeconds: (mode) => wrkSeconds(mode, mode.routeCounts.length + 1, 1) + tableSeconds(mode) + Math.max(...mode.routeCounts) / 15_000,
  async run(ctx) {
    const started = await startAll(ctx, "routes", contenders(ctx));
    try {
      const shape = ctx.mode.routedShapes[0]!;
      const [series] = await runRounds(ctx, "routes", started, [wrkLoad(ctx, shape)], ctx.mode.rounds);
      const smallest = label(Math.min(...ctx.mode.routeCounts));
      const reloadTable = await reloads(ctx, started, ctx.mode.rounds);
      const largest = Math.max(...ctx.mode.routeCounts);
      ctx.progress(`[routes] bench/routes-reload.ts ${largest}`);
      const inProcess = await breakdown(largest);
      return {
        id: "routes",
        title: this.title,
        measures: `req/s and latency with N Host routes \`rN: Host("^hN[.]example[.]com$") -> upstream\` in a -routes-file, requests naming the last one (\`Host: h(N-1).example.com\`), ${ctx.mode.rounds} round(s), alternating; × ${smallest} is the per-request cost of the bigger table against the smallest. Then the reload time of each table (below).`,
        tables: [seriesTable(`routes/${shape.id}`, wrkTitle(ctx, shape), "req/s", series!, { [`× ${smallest}`]: smallest }), reloadTable],
        targets: targetsOf(started),
        notes: [],
        failures: inProcess.ok ? [] : ["bench/routes-reload.ts failed (its output is below)."],
        blocks: [{ title: `in-process breakdown: \`bun run bench/routes-reload.ts ${largest}\` (src/ of this checkout, a mix of Host + Path routes with filters)`, text: inProcess.text }],
      };
    } finally {
      await stopStarted(started);
    }
  },
};
