/**
 * @module
 * The goals (issue 11), checked against one run's results: PASS, FAIL, or n/a when the
 * run has no number for it (a scenario left out with --only, a contender skipped, a table size
 * the mode does not measure). Each says the numbers it was decided on.
 */
import type { ModeName } from "./modes.ts";
import { findPlain, findRow, type RowData, type ScenarioResult } from "./results.ts";
import { FEATURES_OFF, FEATURES_ON } from "./scenarios/features.ts";
import { SQUID_FORWARD } from "./scenarios/forward.ts";
import { FLOOR, NGINX_2, WORKERS_2 } from "./scenarios/routed.ts";

export interface Goal {
  readonly goal: string;
  readonly status: "PASS" | "FAIL" | "n/a";
  /** the numbers, or why there are none */
  readonly detail: string;
}

const f2 = (n: number) => n.toFixed(2);
const rps = (r: RowData) => Math.round(r.median!.rate!).toLocaleString("en-US");
/** MiB as measured → MB (10^6 bytes), the unit the goal is written in */
const mb = (mib: number) => (mib * 2 ** 20) / 1e6;

type Check = { pass: boolean; detail: string } | string;

function goal(text: string, check: () => Check): Goal {
  const c = check();
  if (typeof c === "string") return { goal: text, status: "n/a", detail: c };
  return { goal: text, status: c.pass ? "PASS" : "FAIL", detail: c.detail };
}

/** Two rows of one table, or why not. */
function pair(s: readonly ScenarioResult[], table: string, a: string, b: string): [RowData, RowData] | string {
  const ra = findRow(s, table, a);
  const rb = findRow(s, table, b);
  if (!ra || !rb) return `no result for ${!ra ? a : b} in ${table}${s.some((x) => table.startsWith(x.id + "/")) ? "" : " (scenario not run)"}`;
  return [ra, rb];
}

function ratioGoal(s: readonly ScenarioResult[], table: string, a: string, b: string, min: number, unit = "req/s"): Check {
  const p = pair(s, table, a, b);
  if (typeof p === "string") return p;
  const [ra, rb] = p;
  const ratio = ra.median!.rate! / rb.median!.rate!;
  const fmt = unit === "req/s" ? rps : (r: RowData) => Math.round(r.median!.rate!).toLocaleString("en-US");
  return { pass: ratio >= min, detail: `${f2(ratio)}× (${a} ${fmt(ra)} ${unit}, ${b} ${fmt(rb)} ${unit}; needs ≥ ${min}×)` };
}

function rssGoal(s: readonly ScenarioResult[], table: string): Check {
  const r = findRow(s, table, "sallyport");
  if (!r || r.peakRssMiB === undefined) return `no result for sallyport in ${table}`;
  return { pass: mb(r.peakRssMiB) < 100, detail: `peak ${mb(r.peakRssMiB).toFixed(1)} MB (${r.peakRssMiB.toFixed(1)} MiB), highest of ${r.samples.length} round(s); needs < 100 MB` };
}

/** sallyport against nginx at the same number of worker processes: req/s, then p99. */
function againstNginx(s: readonly ScenarioResult[], table: string, ours: string, nginx: string, workers: string): Goal[] {
  return [
    goal(`Routed, 50 connections, 1 KiB, ${workers}: ${ours} ≥ 1.0× ${nginx} req/s`, () => ratioGoal(s, table, ours, nginx, 1)),
    goal(`Routed, 50 connections, 1 KiB, ${workers}: ${ours} p99 ≤ ${nginx}'s`, () => {
      const p = pair(s, table, ours, nginx);
      if (typeof p === "string") return p;
      const [a, b] = p.map((r) => r.median!.p99Ms!);
      return { pass: a! <= b!, detail: `${ours} ${f2(a!)} ms, ${nginx} ${f2(b!)} ms (median rounds)` };
    }),
  ];
}

export function checkGoals(s: readonly ScenarioResult[], mode: ModeName): Goal[] {
  const routed = "routed/ka-1k";
  return [
    goal("Routed, 50 connections, 1 KiB: sallyport ≥ 1.0× the Bun floor", () => ratioGoal(s, routed, "sallyport", FLOOR, 1)),
    ...againstNginx(s, routed, "sallyport", "nginx", "1 worker each"),
    ...againstNginx(s, routed, WORKERS_2, NGINX_2, "2 worker processes each"),
    goal("Forward proxy (absolute form) ≥ 2× squid", () => ratioGoal(s, "forward/ka-1k", "sallyport forward port", SQUID_FORWARD, 2)),
    goal("CONNECT ≥ 0.8× direct MB/s", () => ratioGoal(s, "forward/connect", "sallyport forward port", "direct", 0.8, "MiB/s")),
    goal("RSS < 100 MB streaming the big body down", () => rssGoal(s, "streaming/down")),
    goal("RSS < 100 MB streaming the big body up", () => rssGoal(s, "streaming/up")),
    goal("10,000 routes within 10 % of 10 routes (req/s)", () => (mode === "smoke" ? "not measured in --smoke (routes up to 1,000)" : ratioGoal(s, "routes/ka-1k", "10,000 routes", "10 routes", 0.9))),
    goal("All scenario-3 features together cost < 5 %", () => {
      const c = ratioGoal(s, "features/ka-1k", FEATURES_ON, FEATURES_OFF, 0.95);
      if (typeof c === "string") return c;
      const p = pair(s, "features/ka-1k", FEATURES_ON, FEATURES_OFF) as [RowData, RowData];
      const overhead = (1 - p[0].median!.rate! / p[1].median!.rate!) * 100;
      return { pass: c.pass, detail: `${overhead.toFixed(1)} % overhead; ${c.detail}` };
    }),
    goal("Start-up (exec to the first proxied 200) < 50 ms", () => {
      const t = findPlain(s, "startup/first-response");
      const row = t?.data.find((d) => d.name === "sallyport") as { medianMs?: number; ms: number[] } | undefined;
      if (row?.medianMs === undefined) return t ? "no successful start" : "scenario not run";
      return { pass: row.medianMs < 50, detail: `median ${row.medianMs.toFixed(1)} ms of ${row.ms.length} runs` };
    }),
  ];
}
