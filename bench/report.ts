/**
 * @module
 * Turns one run into a Markdown section for bench/RESULTS.md: what was run (command, date,
 * machine, versions, mode), per scenario what it measures and its tables (median round, spread,
 * ratios), the setups, what a reader must know (errors, a machine that was not quiet), the exact
 * client commands, and the issue's goals as a PASS/FAIL checklist at the end.
 */
import type { Goal } from "./goals.ts";
import type { Mode } from "./modes.ts";
import type { PlainTable, RowData, ScenarioResult, SeriesTable, Table } from "./results.ts";
import { summarize } from "./logs.ts";

/** What every section of bench/RESULTS.md says first: how the run was started, when, where, on what. */
export interface RunFacts {
  readonly command: string;
  /** ISO 8601 */
  readonly date: string;
  readonly machine: { cpus: number; model: string; memGiB: string };
  readonly versions: Record<string, string>;
  readonly commit: string;
  readonly binary: string;
}

/** One run, as results.json stores it and the Markdown shows it. */
export interface RunData extends RunFacts {
  readonly mode: Mode;
  /** the scenarios asked for (--only), all when not given */
  readonly only?: string[];
  readonly upstream: string;
  readonly estimatedSeconds: number;
  readonly elapsedSeconds: number;
  readonly scenarios: ScenarioResult[];
  readonly goals: Goal[];
  readonly notes: string[];
  /** every error of the run: table rows, plain tables, scenario failures */
  readonly errors: number;
}

const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);
const thousands = (n: number) => Math.round(n).toLocaleString("en-US");
const dash = (x: number | undefined, fmt: (n: number) => string) => (x === undefined ? "–" : fmt(x));
const pct = (share: number | undefined) => dash(share, (s) => `${Math.round(s * 100)} %`);
const minutes = (s: number) => (s < 90 ? `${Math.round(s)} s` : `${(s / 60).toFixed(1)} min`);

/** Above this share of a core used by other processes during a measurement, the notes say so. */
export const NOISY = 0.2;

function head(cols: string[]): string[] {
  return [`| ${cols.join(" | ")} |`, `|${cols.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`];
}

/** The last cell: errors over all rounds, the first one in words; closes wrk miscounts, apart. */
function errorsCell(row: RowData): string {
  const closes = row.samples.reduce((n, s) => n + (s.unannouncedCloses ?? 0), 0);
  const note = closes ? ` (${thousands(closes)} unannounced closes†)` : "";
  if (!row.errors) return `0${note}`;
  const first = row.samples.find((s) => s.errors)?.errorText[0] ?? "";
  return `**${row.errors}${first ? `: ${first}` : ""}**${note}`;
}

function seriesMarkdown(t: SeriesTable): string {
  const ratios = Object.keys(t.ratioTo);
  const wrk = t.unit === "req/s";
  const cols = ["contender", t.unit, ...ratios, ...(wrk ? ["p50 ms", "p99 ms", "p99.9 ms", "spread"] : ["each round MiB/s"]), "peak RSS MiB", "proxy CPU", "other CPU", "errors"];
  const lines = head(cols);
  for (const row of t.rows) {
    const m = row.median;
    if (!m) {
      lines.push(`| ${row.name} | ${row.skipped ? `skipped: ${row.skipped}` : `no result: ${row.samples[0]?.errorText[0] ?? "?"}`} |${" |".repeat(cols.length - 2)}`);
      continue;
    }
    const rss = dash(row.peakRssMiB, (x) => `${f1(x)}${(m.rssProcesses ?? 1) > 1 ? ` (${m.rssProcesses} procs)` : ""}`);
    const cells = [
      row.name,
      thousands(m.rate!),
      ...ratios.map((r) => dash(row.ratios[r], f2)),
      ...(wrk ? [dash(m.p50Ms, f2), dash(m.p99Ms, f2), dash(m.p999Ms, f2), dash(row.spreadPct, (x) => `${Math.round(x)} %`)] : [row.rounds.map((x) => dash(x, thousands)).join(", ")]),
      rss,
      pct(m.cpuShare),
      pct(m.otherCpuShare),
      errorsCell(row),
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

function plainMarkdown(t: PlainTable): string {
  return [...head(t.head), ...t.cells.map((c) => `| ${c.join(" | ")} |`)].join("\n");
}

function tableMarkdown(t: Table): string[] {
  const out = [`#### ${t.title}`, ""];
  if (t.kind === "plain" && t.intro) out.push(t.intro, "");
  out.push(t.kind === "series" ? seriesMarkdown(t) : plainMarkdown(t), "");
  return out;
}

/** Every client command of the run, once each. */
function commands(run: RunData): string[] {
  const seen = new Set<string>();
  for (const s of run.scenarios) for (const t of s.tables) if (t.kind === "series") for (const r of t.rows) for (const x of r.samples) if (x.cmd) seen.add(x.cmd);
  return [...seen];
}

function modeLine(m: Mode): string {
  const shapes = m.routedShapes.map((s) => `${s.connections}c ${s.body === "1k" ? "1 KiB" : "64 KiB"}${s.close ? " Connection: close" : ""}`).join(", ");
  return `\`${m.name}\`: ${m.rounds} round(s) × ${m.seconds} s per wrk measurement (scenario 3: ${m.featureRounds} round(s)), ${m.warmup ? `an unrecorded ${m.warmup} s warm-up before each contender's first measurement of a shape` : "no warm-up"}, wrk -t${m.threads}; routed shapes ${shapes}; streamed bodies ${m.bigBytes >= 2 ** 30 ? `${m.bigBytes / 2 ** 30} GiB` : `${m.bigBytes / 2 ** 20} MiB`}; route tables ${m.routeCounts.map(thousands).join(", ")}; ${m.startupRuns} start-ups each`;
}

/** The versions and the source measured, as list items. */
export function sourceLines(facts: RunFacts): string[] {
  return [`- **Versions:** ${Object.entries(facts.versions).map(([k, v]) => `${k} ${v}`).join("; ")}`, `- **sallyport source:** ${facts.commit}; binary \`${facts.binary}\``];
}

/** "2026-12-07 22:20:31 UTC" from an ISO date. */
export const sectionDate = (iso: string): string => iso.replace("T", " ").replace(/\.\d+Z$/, " UTC");

export function renderRun(run: RunData): string {
  const out: string[] = [];
  out.push(`## ${sectionDate(run.date)}: \`${run.command}\``, "");
  out.push(`- **Command:** \`${run.command}\` (from the repository root)${run.only ? `; scenarios: ${run.only.join(", ")} (--only)` : ""}`);
  out.push(`- **Machine:** ${run.machine.cpus} CPUs (nproc), ${run.machine.model}, ${run.machine.memGiB} GiB. wrk, the upstream and the proxy under test share these cores, so read the ratios rather than the absolute numbers.`);
  out.push(...sourceLines(run));
  out.push(`- **Mode:** ${modeLine(run.mode)}. Took ${minutes(run.elapsedSeconds)} (estimated ${minutes(run.estimatedSeconds)}).`);
  out.push(`- **Upstream:** ${run.upstream}`);
  out.push(`- **Method:** all contenders of a scenario run at the same time, idle but for the one measured; each round measures every shape on every contender, the contenders' order rotated by one per round. After each measurement one request through the contender is checked byte for byte.`);
  out.push(`- **Columns:** the median round (by rate; of an even number of rounds the lower middle one) of each contender, its latency percentiles from wrk (\`bench/latency.lua\` prints them exactly, p99.9 included); ratios between median rounds; spread = (highest − lowest round) ÷ median; peak RSS = VmHWM from /proc/PID/status, reset before each measurement (\`echo 5 > /proc/PID/clear_refs\`), summed over the proxy's process tree (nginx: master + worker), the highest of all rounds; proxy CPU = user+system CPU time of that tree during the run ÷ wall time (100 % = one core); other CPU = the same for every process outside the measurement, idle contenders included (more than ${NOISY * 100} % makes the row unreliable); errors = over all rounds: wrk socket errors, responses with status ≥ 400, failed transfers, wrong bodies afterwards, and error or warning lines in the servers' logs.`);
  out.push("");
  for (const s of run.scenarios) {
    out.push(`### ${s.title}`, "", `Measures ${s.measures}`, "");
    for (const f of s.failures ?? []) out.push(`**Failed:** ${f}`, "");
    for (const t of s.tables) out.push(...tableMarkdown(t));
    for (const b of s.blocks ?? []) out.push(`#### ${b.title}`, "", "```", b.text.trimEnd(), "```", "");
    if (s.targets.length) {
      out.push("<details><summary>setups</summary>", "");
      for (const t of s.targets) out.push(`- **${t.name}**: ${t.setup}`);
      out.push("", "</details>", "");
    }
    for (const n of s.notes) out.push(`- ${n}`);
    if (s.notes.length) out.push("");
  }
  if (run.notes.length) {
    out.push("### Notes from this run", "");
    for (const n of run.notes) out.push(`- ${n}`);
    out.push("");
  }
  const cmds = commands(run);
  if (cmds.length) out.push("<details><summary>exact wrk and curl commands</summary>", "", "```", ...cmds, "```", "", "</details>", "");
  out.push(...goalsMarkdown(run));
  return out.join("\n");
}

export function goalsMarkdown(run: Pick<RunData, "goals" | "mode">): string[] {
  const caveat = run.mode.name === "default" ? "" : ` (a --${run.mode.name} run: ${run.mode.name === "smoke" ? "tiny shapes and 1 MiB bodies, so these say nothing about the goals" : "short rounds, so read these as a hint"})`;
  const out = [`### Goals (issue 11)${caveat}`, ""];
  for (const g of run.goals) out.push(`- ${g.status === "PASS" ? "✅ PASS" : g.status === "FAIL" ? "❌ FAIL" : "➖ n/a"} — ${g.goal}: ${g.detail}`);
  out.push("");
  return out;
}

/** What a reader must know about the numbers: errors of any kind, and a machine that was not quiet. */
export function findings(scenarios: readonly ScenarioResult[]): string[] {
  const notes: string[] = [];
  let clean = true;
  let measured = 0;
  const unannounced = new Set<string>();
  const noisy: string[] = [];
  const busiest = new Set<string>();
  for (const s of scenarios) {
    if (s.failures?.length) clean = false;
    for (const t of s.tables) {
      if (t.kind === "plain") {
        if (t.errors) {
          clean = false;
          notes.push(`${s.title}, ${t.title}: ${t.errors} failed (see the table).`);
        }
        continue;
      }
      for (const row of t.rows) {
        for (const x of row.samples) {
          measured++;
          if (x.unannouncedCloses) unannounced.add(row.name);
          if (x.errors) {
            clean = false;
            const logs = x.logLines.length ? ` Logged: ${summarize(x.logLines)}` : "";
            notes.push(`${s.title}, ${t.id}, ${row.name}, round ${x.round}: ${x.errorText.join("; ")}.${logs}`);
          }
          if ((x.otherCpuShare ?? 0) > NOISY) {
            noisy.push(`${Math.round(x.otherCpuShare! * 100)} %`);
            for (const b of x.otherBusiest ?? []) busiest.add(b);
          }
        }
      }
    }
  }
  if (unannounced.size) {
    notes.push(
      `† Unannounced closes (${[...unannounced].join(", ")}): the server closed connections after whole responses that did not carry \`Connection: close\` (seen with one raw request after the run showed read errors; RFC 9112 §9.6: a server that closes SHOULD say so). wrk decides on reuse from the response alone, so it writes the next request and counts a read error for each close; they are shown apart and not as errors, as every such response arrived whole. Read errors beyond one per response still count.`,
    );
  }
  if (clean) notes.push("No wrk socket errors, no status ≥ 400, every body checked after each measurement was intact, every transfer complete, every reload and start-up served, and no error or warning lines in any server log.");
  if (noisy.length) {
    notes.push(
      `**The machine was not quiet:** in ${noisy.length} of ${measured} measurements, processes outside the measurement used more than ${NOISY * 100} % of a core (${noisy.slice(0, 12).join(", ")}${noisy.length > 12 ? ", …" : ""}); busiest: ${[...busiest].slice(0, 4).map((b) => `\`${b}\``).join(", ")}. Those rows understate what the machine can do and their ratios are less reliable; rerun on an idle machine.`,
    );
  }
  return notes;
}

/** Errors of the whole run, for the JSON and the exit summary. */
export function errorCount(scenarios: readonly ScenarioResult[]): number {
  let n = 0;
  for (const s of scenarios) {
    n += s.failures?.length ?? 0;
    for (const t of s.tables) n += t.kind === "plain" ? t.errors : t.rows.reduce((a, r) => a + r.errors, 0);
  }
  return n;
}

export const RESULTS_HEADER = `# Benchmark results

Written by \`bench/run.ts\` (\`npm run bench\`, \`npm run bench -- --quick\`); each run appends a
section below, newest last, and a JSON object to \`bench/results.json\`. All traffic is on
127.0.0.1. Compare runs by their ratios: the machines are small and shared, and absolute numbers
move by ±10 % between runs.

`;
