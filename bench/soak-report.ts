/**
 * @module
 * The soak's results (bench/soak.ts): the load generators' counts added up, the verdict, and the
 * section appended to bench/RESULTS.md with its chart written beside it as SVG.
 */
import { appendFileSync, existsSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { Histogram } from "./histogram.ts";
import { summarize } from "./logs.ts";
import { median } from "./results.ts";
import { RESULTS_HEADER, type RunFacts, sectionDate, sourceLines } from "./report.ts";
import { chartSvg } from "./soak-chart.ts";
import type { Kind, KindStats } from "./soak-load.ts";

/** What the generators of one kind (or of all) saw over a span: KindStats added up. */
export interface Counts {
  requests: number;
  ok: number;
  late: number;
  tunnels: number;
  readonly expected: Record<string, number>;
  readonly unexpected: Record<string, number>;
  readonly examples: string[];
  readonly latency: Histogram;
}

/** Examples kept per span: enough to see what went wrong, not a log. */
const EXAMPLES = 10;

export function emptyCounts(): Counts {
  return { requests: 0, ok: 0, late: 0, tunnels: 0, expected: {}, unexpected: {}, examples: [], latency: new Histogram() };
}

function addTo(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, n] of Object.entries(from)) into[k] = (into[k] ?? 0) + n;
}

export const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);

/** Adds one generator's tick (or, with its histogram as JSON, other Counts) to `c`. */
export function addStats(c: Counts, s: Omit<KindStats, "kind">): void {
  c.requests += s.requests;
  c.ok += s.ok;
  c.late += s.late;
  c.tunnels += s.tunnels;
  addTo(c.expected, s.expected);
  addTo(c.unexpected, s.unexpected);
  c.examples.push(...s.examples.slice(0, Math.max(0, EXAMPLES - c.examples.length)));
  c.latency.add(s.latency);
}

/** One 10-s interval. */
export interface Row {
  /** seconds since the soak began, at the interval's end */
  readonly t: number;
  readonly requests: number;
  readonly rps: number;
  readonly late: number;
  readonly expected: number;
  /** the generators' and the logs' */
  readonly unexpected: number;
  readonly p50?: number;
  readonly p99?: number;
  /** VmRSS of the proxy's process tree */
  readonly rssMiB: number;
  /** from /metrics */
  readonly heapMiB: number;
  readonly inFlight?: number;
  readonly tunnelsOpen?: number;
  /** CPU ÷ wall time, 1 = one core */
  readonly proxyCpu: number;
  readonly loadCpu: number;
  readonly otherCpu: number;
}

/** A secret rotation or routes reload, and how long until a probe saw it served. */
export interface Rollout {
  readonly gen: number;
  /** seconds into the soak */
  readonly at: number;
  /** undefined: not seen within its grace */
  readonly ms?: number;
  readonly how: string;
}

/** The mix's req/s with the generators unthrottled, and the CPU share (1 = one core) other processes used meanwhile. */
export interface Maximum {
  readonly rps: number;
  readonly otherCpu: number;
}

/** What the soak saw while it ran, besides the rate. */
export interface Observations {
  readonly rows: Row[];
  readonly totals: Record<Kind, Counts>;
  /** unexpected errors the soak saw itself (rollouts, logs, leftovers), by kind */
  readonly unexpected: Record<string, number>;
  /** the log events, in words */
  readonly logLines: string[];
  readonly rotations: Rollout[];
  readonly reloads: Rollout[];
}

export interface SoakRun extends RunFacts {
  /** when the binary was built, and whether src/ was newer */
  readonly built: string;
  readonly minutes: number;
  readonly workers: number;
  readonly proxySetup: string;
  /** each kind's share, and its lanes while the maximum was measured */
  readonly mix: Record<Kind, { share: number; lanes: number }>;
  /** each kind's lanes in the soak, each sending at most `laneRate` req/s */
  readonly lanes: Record<Kind, number>;
  readonly laneRate: number;
  /** undefined when --rate fixed the rate */
  readonly maximum?: Maximum;
  readonly maximumSeconds: number;
  readonly loadShare: number;
  readonly rate: number;
  /** what the generators saw while the maximum was measured */
  readonly duringMaximum: Counts;
  readonly observed: Observations;
  readonly leftovers: { inFlight?: number; tunnelsOpen?: number };
  readonly rssTolerance: number;
  /** how late a routed response may still show the old secret or routes */
  readonly graceMs: { readonly secret: number; readonly routes: number };
  /** the SVG's path, written beside the Markdown */
  readonly chart: string;
}

interface Verdict {
  readonly pass: boolean;
  readonly unexpected: Record<string, number>;
  readonly rssFirst: number;
  readonly rssEnd: number;
  readonly rssChange: number;
}

/** PASS: no unexpected error anywhere, and the RSS at the end within the tolerance of the RSS after the first minute. */
function verdict(run: SoakRun): Verdict {
  const unexpected: Record<string, number> = { ...run.observed.unexpected };
  for (const c of [run.duringMaximum, ...Object.values(run.observed.totals)]) addTo(unexpected, c.unexpected);
  // the first row at or after one minute (with --minutes 1 that is the last row too)
  // no rows at all (the proxy died at once): NaN, which fails
  const rssFirst = (run.observed.rows.find((r) => r.t >= 59.5) ?? run.observed.rows.at(-1))?.rssMiB ?? NaN;
  const rssEnd = run.observed.rows.at(-1)?.rssMiB ?? NaN;
  const rssChange = rssEnd / rssFirst - 1;
  return { pass: sum(unexpected) === 0 && Math.abs(rssChange) <= run.rssTolerance, unexpected, rssFirst, rssEnd, rssChange };
}

const f1 = (n: number) => n.toFixed(1);
const f2 = (x: number | undefined) => (x === undefined ? "–" : x.toFixed(2));
const int = (n: number) => Math.round(n).toLocaleString("en-US");
const pct = (share: number) => `${Math.round(share * 100)} %`;
const clock = (t: number) => `${Math.floor(Math.round(t) / 60)}:${String(Math.round(t) % 60).padStart(2, "0")}`;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const percentOf = (n: number, of: number) => (of ? `${((n / of) * 100).toFixed(2)} %` : "–");

function kindRow(name: string, c: Counts): string {
  return `| ${name} | ${int(c.requests)} | ${int(c.ok)} | ${int(sum(c.expected))} | ${sum(c.unexpected) ? `**${int(sum(c.unexpected))}**` : "0"} | ${int(c.late)} | ${c.tunnels ? int(c.tunnels) : "–"} | ${f2(c.latency.percentile(50))} | ${f2(c.latency.percentile(99))} |`;
}

function kindsTable(run: SoakRun): string[] {
  const all = emptyCounts();
  for (const c of Object.values(run.observed.totals)) addStats(all, { ...c, latency: c.latency.toJSON() });
  return [
    "| kind | requests | ok | expected errors | unexpected errors | late turns | tunnels opened | p50 ms | p99 ms |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...Object.entries(run.observed.totals).map(([k, c]) => kindRow(k, c)),
    kindRow("**all**", all),
  ];
}

/** "6 times; a fresh request showed the new generation after (file event) median 70 ms, max 90 ms; none missed". */
function rolloutSummary(list: readonly Rollout[]): string {
  const ways = [...new Set(list.map((r) => r.how))].map((how) => {
    const seen = list.filter((r) => r.how === how && r.ms !== undefined).map((r) => r.ms!);
    return `(${how}) ${seen.length ? `median ${f1(median(seen))} ms, max ${f1(Math.max(...seen))} ms` : "never"}`;
  });
  const missed = list.filter((r) => r.ms === undefined).length;
  return `${list.length} times; a fresh request showed the new generation after ${ways.join(", ") || "–"}; ${missed ? `**${missed} not within the grace**` : "none missed"}`;
}

function errorsSection(run: SoakRun, v: Verdict): string[] {
  const requests = Object.values(run.observed.totals).reduce((n, c) => n + c.requests, 0);
  const expected: Record<string, number> = {};
  for (const c of Object.values(run.observed.totals)) addTo(expected, c.expected);
  const out = ["#### Errors by kind", "", "Expected (caused on purpose; share of all soak requests):", ""];
  for (const [k, n] of Object.entries(expected).sort((a, b) => b[1] - a[1])) out.push(`- ${k}: ${int(n)} (${percentOf(n, requests)})`);
  out.push(
    "",
    "An injected reset on the routed and forward paths mostly goes unseen: when a pooled upstream connection closes before any response byte, the proxy's HTTP client sends the GET again on a new connection (src/client/client.ts), so the client sees 502 `connection-reset` only when the reset came on a fresh connection. In a tunnel it reaches the client as the tunnel's close.",
  );
  out.push("", `Unexpected: ${sum(v.unexpected) ? "" : "none."}`, "");
  for (const [k, n] of Object.entries(v.unexpected).sort((a, b) => b[1] - a[1])) out.push(`- **${k}: ${int(n)}**`);
  const examples = [run.duringMaximum, ...Object.values(run.observed.totals)].flatMap((c) => c.examples).slice(0, EXAMPLES);
  if (examples.length) out.push("", "<details><summary>examples</summary>", "", ...examples.map((e) => `- \`${e.replaceAll("`", "'")}\``), "", "</details>");
  if (run.observed.logLines.length) out.push("", `Logged: ${summarize(run.observed.logLines, 5)}`);
  out.push("");
  return out;
}

function intervalsTable(rows: readonly Row[]): string[] {
  return [
    "<details><summary>every 10 s</summary>",
    "",
    "| time | req/s | p50 ms | p99 ms | RSS MiB | heap MiB | in flight | tunnels open | expected | unexpected | late | proxy CPU | load CPU | other CPU |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map(
      (r) =>
        `| ${clock(r.t)} | ${int(r.rps)} | ${f2(r.p50)} | ${f2(r.p99)} | ${f1(r.rssMiB)} | ${f1(r.heapMiB)} | ${r.inFlight ?? "–"} | ${r.tunnelsOpen ?? "–"} | ${int(r.expected)} | ${r.unexpected ? `**${r.unexpected}**` : 0} | ${r.late} | ${pct(r.proxyCpu)} | ${pct(r.loadCpu)} | ${pct(r.otherCpu)} |`,
    ),
    "",
    "</details>",
    "",
  ];
}

function chart(run: SoakRun, v: Verdict): string {
  const at = (r: Row) => r.t / 60;
  const line = (name: string, color: string, value: (r: Row) => number | undefined) => ({
    name,
    color,
    points: run.observed.rows.flatMap((r) => {
      const y = value(r);
      return y === undefined || Number.isNaN(y) ? [] : [[at(r), y] as const];
    }),
  });
  return chartSvg(
    `sallyport soak, ${run.minutes} min at ${int(run.rate)} req/s — ${v.pass ? "PASS" : "FAIL"}`,
    [
      { title: "Latency per 10 s, all kinds", unit: "ms", series: [line("p50", "#1f77b4", (r) => r.p50), line("p99", "#d62728", (r) => r.p99)] },
      {
        title: "Proxy memory",
        unit: "MiB",
        series: [line("RSS", "#2a9d8f", (r) => r.rssMiB), line("JS heap used", "#9467bd", (r) => r.heapMiB)],
        band: { from: v.rssFirst * (1 - run.rssTolerance), to: v.rssFirst * (1 + run.rssTolerance), label: `RSS after the first minute ± ${pct(run.rssTolerance)}` },
      },
    ],
    run.minutes,
    run.observed.reloads.map((r) => r.at / 60),
    `dashed: routes reloads; shaded: the RSS allowed at the end`,
  );
}

function markdown(run: SoakRun, v: Verdict): string {
  const rates = run.observed.rows.map((r) => r.rps);
  const other = run.observed.rows.map((r) => r.otherCpu);
  const kinds = Object.keys(run.mix) as Kind[];
  const mixText = kinds.map((k) => `${k} ${pct(run.mix[k].share)} (${run.lanes[k]} ${k === "quitter" ? "timers" : "connections"})`).join(", ");
  const rateText = run.maximum
    ? `the maximum of this mix, measured first for ${run.maximumSeconds} s with the routed, forward and tunnel generators unthrottled (${kinds.filter((k) => k !== "quitter").map((k) => `${run.mix[k].lanes} ${k}`).join(", ")} connections, each sending as fast as it is answered), was ${int(run.maximum.rps)} req/s, while other processes used ${pct(run.maximum.otherCpu)} of a core; the soak ran at ${pct(run.loadShare)} of it, ${int(run.rate)} req/s, each connection sending at most ${run.laneRate} req/s`
    : `${int(run.rate)} req/s, fixed by --rate`;
  const out = [
    `## ${sectionDate(run.date)}: \`${run.command}\` — soak, ${run.minutes} min: ${v.pass ? "PASS" : "FAIL"}`,
    "",
    `- **Command:** \`${run.command}\` (from the repository root); bench/soak.ts says what runs and why.`,
    `- **Machine:** ${run.machine.cpus} CPUs (nproc), ${run.machine.model}, ${run.machine.memGiB} GiB, **shared with other work**: other agents run their tests on the same cores, and sallyport, nginx and the load generators share them too. "other CPU" below is the CPU of every process outside the soak (100 % = one core): mean ${pct(mean(other))}, highest ${pct(Math.max(0, ...other))}. Latency moves with it.`,
    ...sourceLines(run),
    `- **Proxy:** ${run.proxySetup} (DIR: the run's temp dir; the binary ${run.built}, copied there at the start); the soak route \`Host("^soak$") -> bearerinjector(DIR/secrets/token) -> consecutiveBreaker(20) -> setResponseHeader("X-Soak-Routes", GEN) -> nginx\` and 50 filler routes renamed at each reload.`,
    `- **Upstream:** nginx, 1 worker: \`/flaky\` answers the 1 KiB body, but 0.5 % of the time a 500 marked \`X-Soak-Failure\` and 0.5 % a close without an answer (\`return 444\`), drawn per request by split_clients on \`$request_id\`; \`/slow\` sends 64 KiB at 16 KiB/s for the clients that hang up; every response echoes the Authorization that arrived.`,
    `- **Load:** Bun child processes (bench/soak-load.ts), one per kind, each at a fixed rate over a fixed number of connections, raw HTTP/1.1 written and parsed by hand: ${mixText}. Keep-alive connections are closed by the client after 1–1,000 requests, tunnels after 1–20; quitters hang up in the request head, just after it or during the slow body, half by FIN and half by RST. Rate: ${rateText}; achieved ${int(mean(rates))} req/s on average (lowest interval ${int(Math.min(...rates))}), ${int(run.observed.rows.reduce((n, r) => n + r.late, 0))} turns skipped as late. Load generators' CPU: mean ${pct(mean(run.observed.rows.map((r) => r.loadCpu)))} (proxy: ${pct(mean(run.observed.rows.map((r) => r.proxyCpu)))}).`,
    `- **Churn:** the secret replaced every 10 s (write + rename into the -credentials-paths directory): ${rolloutSummary(run.observed.rotations)}. The routes file replaced every 30 s, every other time with a SIGHUP too: ${rolloutSummary(run.observed.reloads)}. A routed response that still carried the old generation ${run.graceMs.secret / 1000} s (secret) or ${run.graceMs.routes / 1000} s (routes) after the change counts as unexpected.`,
    `- **Result: ${v.pass ? "PASS" : "FAIL"}** — ${int(sum(v.unexpected))} unexpected errors (needs 0); RSS ${f1(v.rssEnd)} MiB at the end against ${f1(v.rssFirst)} MiB after the first minute, ${v.rssChange >= 0 ? "+" : ""}${(v.rssChange * 100).toFixed(1)} % (needs within ±${pct(run.rssTolerance)}). After the load stopped: ${run.leftovers.inFlight ?? "–"} requests in flight, ${run.leftovers.tunnelsOpen ?? "–"} tunnels open.`,
    "",
    "#### Requests by kind",
    "",
    "Latency: from a request's first byte to its response's last, of every response that arrived whole (injected 500s included), 5 % buckets.",
    "",
    ...kindsTable(run),
    "",
    ...errorsSection(run, v),
    "#### Over time",
    "",
    `![p50 and p99 latency, RSS and heap over the soak](${basename(run.chart)})`,
    "",
    ...intervalsTable(run.observed.rows),
  ];
  return out.join("\n");
}

/** Writes the chart, appends the section to `out` (with the file's header if it is new), prints the verdict; true on PASS. */
export function appendSoakReport(run: SoakRun, out: string): boolean {
  const v = verdict(run);
  writeFileSync(run.chart, chart(run, v));
  if (!existsSync(out)) appendFileSync(out, RESULTS_HEADER);
  appendFileSync(out, markdown(run, v) + "\n");
  console.log(`\nunexpected errors: ${sum(v.unexpected)}${sum(v.unexpected) ? ` — ${Object.entries(v.unexpected).map(([k, n]) => `${k}: ${n}`).join("; ")}` : ""}`);
  console.log(`RSS after the first minute ${f1(v.rssFirst)} MiB, at the end ${f1(v.rssEnd)} MiB (${(v.rssChange * 100).toFixed(1)} %, allowed ±${pct(run.rssTolerance)})`);
  return v.pass;
}
