/**
 * The whole bench of issue 11 in one run, every contender of every scenario side by side, all on
 * 127.0.0.1 against one nginx upstream:
 *
 *   1. routed   the routed hot path: direct, sallyport, the Bun.serve+fetch floor, nginx, haproxy,
 *               squid; keep-alive at two concurrencies, 1 KiB and 64 KiB bodies, Connection: close
 *   2. forward  absolute-form requests through sallyport's forward port, squid and tinyproxy, and
 *               big downloads through their CONNECT tunnels (and direct)
 *   3. features sallyport with access log, /metrics, a secret, a breaker and a rate limit vs without
 *   3b. cluster sallyport with a cluster rate limit kept in a redis-server vs a local one
 *   4. streaming a big body down and up through the routed path: peak RSS
 *   5. routes   route tables of 10 … 100,000 routes: req/s and reload time
 *   6. startup  exec of the binary to the first proxied 200
 *   micro       the in-process micro benchmarks (matcher, metrics)
 *
 * Results are appended to bench/RESULTS.md (Markdown, ending in the goals as PASS/FAIL)
 * and to bench/results.json (an array, one object per run with every measurement).
 *
 *   bun run bench/run.ts [--quick | --smoke] [--only routed,forward,…] [--out FILE] [--json FILE]
 *                        [--keep] [--build] [--bin PATH]
 *
 * --quick  2 rounds × 3 s (minutes); default 3 rounds × 10 s (see the estimate printed at start)
 * --smoke  1 round × 1 s, tiny shapes, 1 MiB bodies, routes up to 1,000: only proves it works (CI)
 * --only   run these scenarios (ids above), in the usual order
 * --out    where to append the Markdown (default bench/RESULTS.md)
 * --json   where to add the run's JSON (default bench/results.json)
 * --keep   keep the temp dir with the generated configs and server logs
 * --build  rebuild dist/sallyport first (otherwise it is built only when missing)
 * --bin    measure this sallyport binary instead of dist/sallyport
 *
 * Installs nginx, haproxy, squid, tinyproxy, curl, wrk and redis-server with apt-get when
 * missing. Stops by itself: every wait is bounded, and all servers are killed by process group on
 * the way out, including on errors and Ctrl-C.
 */
import { appendFileSync, chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { checkGoals } from "./goals.ts";
import { MODES, type Mode, sizeLabel } from "./modes.ts";
import { killAllSync, stopAll } from "./procs.ts";
import { errorCount, findings, goalsMarkdown, renderRun, RESULTS_HEADER, type RunData } from "./report.ts";
import type { ScenarioResult } from "./results.ts";
import { cluster } from "./scenarios/cluster.ts";
import { features } from "./scenarios/features.ts";
import { forward } from "./scenarios/forward.ts";
import { micro } from "./scenarios/micro.ts";
import { routed } from "./scenarios/routed.ts";
import { routes } from "./scenarios/routes.ts";
import { startup } from "./scenarios/startup.ts";
import { streaming } from "./scenarios/streaming.ts";
import type { Ctx, Scenario } from "./scenarios/types.ts";
import { BIG_PATH, MEDIUM_PATH, SMALL_BODY, SMALL_PATH, startUpstream } from "./servers.ts";
import { commandLine, ensureBinary, ensureTools, gitDescribe, machine, versions } from "./tools.ts";

const ROOT = join(import.meta.dir, "..");
const SCENARIOS: readonly Scenario[] = [routed, forward, features, cluster, streaming, routes, startup, micro];

const { values: opts } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    quick: { type: "boolean", default: false },
    smoke: { type: "boolean", default: false },
    only: { type: "string" },
    out: { type: "string" },
    json: { type: "string" },
    keep: { type: "boolean", default: false },
    build: { type: "boolean", default: false },
    bin: { type: "string" },
  },
});

/** The run's temp dir, removed when the run is interrupted (kept on errors, for the logs). */
let tempDir: string | undefined;
const cleanupAndExit = (code: number, removeTemp = false) => {
  killAllSync();
  if (removeTemp && tempDir && !opts.keep) rmSync(tempDir, { recursive: true, force: true });
  process.exit(code);
};
process.on("exit", killAllSync);
process.on("SIGINT", () => cleanupAndExit(130, true));
process.on("SIGTERM", () => cleanupAndExit(143, true));

/** Tools, the upstream's start and the report, beyond what the scenarios estimate for themselves. */
const FIXED_SECONDS = 5;

function selected(): Scenario[] {
  if (!opts.only) return [...SCENARIOS];
  const ids = opts.only.split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = ids.filter((id) => !SCENARIOS.some((s) => s.id === id));
  if (unknown.length || !ids.length) throw new Error(`--only: unknown scenario ${unknown.join(", ") || "(none given)"}; known: ${SCENARIOS.map((s) => s.id).join(", ")}`);
  return SCENARIOS.filter((s) => ids.includes(s.id));
}

/** The runs already in the JSON file; refused before measuring anything if it is not a JSON array. */
function existingRuns(file: string): unknown[] {
  if (!existsSync(file)) return [];
  const parsed: unknown = JSON.parse(readFileSync(file, "utf8"));
  if (!Array.isArray(parsed)) throw new Error(`${file} is not a JSON array of runs; move it away or pass --json`);
  return parsed;
}

const minutes = (s: number) => (s < 90 ? `${Math.round(s)} s` : `${(s / 60).toFixed(1)} min`);

async function main(): Promise<void> {
  if (opts.quick && opts.smoke) throw new Error("--quick and --smoke exclude each other");
  const mode: Mode = MODES[opts.smoke ? "smoke" : opts.quick ? "quick" : "default"];
  const scenarios = selected();
  const out = resolve(opts.out ?? join(ROOT, "bench/RESULTS.md"));
  const jsonFile = resolve(opts.json ?? join(ROOT, "bench/results.json"));
  const previous = existingRuns(jsonFile);
  const estimate = FIXED_SECONDS + scenarios.reduce((s, x) => s + x.estimateSeconds(mode), 0);
  console.log(`bench, mode ${mode.name}: ${scenarios.map((s) => s.id).join(", ")}; expected to take about ${minutes(estimate)}`);

  const tools = await ensureTools();
  if (!tools.wrk || !tools.nginx) throw new Error("wrk and nginx are required (apt-get install wrk nginx)");
  const { bin, stale } = opts.bin ? { bin: resolve(opts.bin), stale: false } : await ensureBinary(ROOT, opts.build);

  // Whatever happens below, the run ends: a hung phase is cut off here (children killed on exit).
  const limitSeconds = Math.max(300, 2.5 * estimate + 120);
  setTimeout(() => {
    console.error(`benchmark exceeded ${minutes(limitSeconds)}; killing everything`);
    cleanupAndExit(2);
  }, limitSeconds * 1000).unref();

  const started = performance.now();
  const dir = (tempDir = mkdtempSync(join(tmpdir(), "sallyport-bench-")));
  // The servers that drop root (nginx workers, squid, tinyproxy) must be able to enter it.
  chmodSync(dir, 0o755);
  let ok = false;
  try {
    const upstream = await startUpstream(dir, tools.nginx, mode.bigBytes);
    const ctx: Ctx = { dir, tools, bin, mode, upstream, shared: [upstream], progress: (line) => console.log(line) };
    const results: ScenarioResult[] = [];
    for (const s of scenarios) {
      const t0 = performance.now();
      console.log(`\n== ${s.title} (about ${minutes(s.estimateSeconds(mode))})`);
      results.push(await s.run(ctx).catch((e): ScenarioResult => {
        console.error(`${s.id} failed: ${(e as Error).stack ?? e}`);
        return { id: s.id, title: s.title, measures: "(the scenario failed)", tables: [], targets: [], notes: [], failures: [`${(e as Error).message.split("\n")[0]}`] };
      }));
      console.log(`   ${s.id} took ${minutes((performance.now() - t0) / 1000)}`);
    }
    await stopAll();
    const notes = [
      ...(stale ? ["dist/sallyport was older than src/ and was not rebuilt (pass --build): it may not be the source state named above."] : []),
      ...findings(results),
    ];
    const run: RunData = {
      command: commandLine("bench", "bench/run.ts"),
      date: new Date().toISOString(),
      mode,
      only: opts.only ? scenarios.map((s) => s.id) : undefined,
      machine: machine(),
      versions: await versions(tools, bin),
      commit: await gitDescribe(ROOT),
      binary: opts.bin ? `${opts.bin} (--bin)` : "dist/sallyport",
      upstream: `nginx, \`worker_processes 1\`: \`${SMALL_PATH}\` answers a fixed ${SMALL_BODY.length}-byte body with \`return 200\`, \`${MEDIUM_PATH}\` is a 64 KiB file and \`${BIG_PATH}\` a sparse ${sizeLabel(mode.bigBytes)} file of zeros, both sent with sendfile; keep-alive with \`keepalive_requests 1000000\`; no access log. nginx rather than a Bun.serve upstream: neutral, and the cheapest server at hand. Uploads (scenario 4) go to a Bun.serve sink instead (see there).`,
      estimatedSeconds: estimate,
      elapsedSeconds: (performance.now() - started) / 1000,
      scenarios: results,
      goals: checkGoals(results, mode.name),
      notes,
      errors: errorCount(results),
    };
    const report = renderRun(run);
    if (!existsSync(out)) appendFileSync(out, RESULTS_HEADER);
    appendFileSync(out, report + "\n");
    writeFileSync(jsonFile, JSON.stringify([...previous, run], null, 1) + "\n");
    console.log(`\n${goalsMarkdown(run).join("\n")}`);
    for (const n of notes) console.log(`- ${n}`);
    console.log(`\n${run.errors} errors; took ${minutes(run.elapsedSeconds)} (estimated ${minutes(estimate)}); appended to ${out} and ${jsonFile}`);
    ok = true;
  } finally {
    await stopAll();
    if (ok && !opts.keep) rmSync(dir, { recursive: true, force: true });
    else console.log(`configs and logs kept in ${dir}`);
  }
}

await main().catch((e) => {
  console.error(`benchmark failed: ${(e as Error).stack ?? e}`);
  cleanupAndExit(1);
});
process.exit(0);
