/**
 * @module
 * Turns one run into a Markdown section for bench/RESULTS.md: what was run (command, date,
 * machine, versions, setups), a table per load shape with ratios to direct, the CONNECT tunnel
 * downloads, and the exact commands.
 */
import { countEvents } from "./logs.ts";
import type { Target } from "./servers.ts";
import type { TunnelResult } from "./tunnel.ts";
import type { WrkResult } from "./wrk.ts";

/** One target under one load: a wrk run, or (with TunnelResult) curl downloads through a CONNECT tunnel. */
export interface Measurement<R = WrkResult> {
  readonly target: Pick<Target, "name" | "setup">;
  readonly result?: R;
  /** why there is no result */
  readonly skipped?: string;
  /** summed VmHWM of the proxy's process tree during this phase */
  readonly peakRss?: { kib: number; processes: number };
  /** CPU seconds the proxy's tree used during the measured run */
  readonly cpuSeconds?: number;
  /** CPU seconds used meanwhile by processes that are not part of the benchmark */
  readonly otherCpuSeconds?: number;
  /** command lines of the busiest of those */
  readonly otherBusiest?: string[];
  /** problems seen in this phase: wrong body afterwards, a server that died */
  readonly problems: string[];
  /** error/warning lines the servers logged during this phase */
  readonly logLines: string[];
}

export interface Phase {
  readonly title: string;
  readonly wrkShape: string;
  readonly seconds: number;
  /** show MiB/s: the point of the large-body run */
  readonly showThroughput: boolean;
  readonly rows: Measurement[];
}

export interface RunInfo {
  readonly command: string;
  readonly date: Date;
  readonly machine: { cpus: number; model: string; memGiB: string };
  readonly versions: Record<string, string>;
  readonly commit: string;
  readonly upstream: string;
  readonly load: string;
  readonly phases: Phase[];
  /** CONNECT tunnel downloads (direct and the forward proxies), if measured */
  readonly tunnel?: { readonly title: string; readonly rows: Measurement<TunnelResult>[] };
  readonly targets: Pick<Target, "name" | "setup">[];
  readonly micro?: string;
  readonly notes: string[];
}

const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);
const thousands = (n: number) => Math.round(n).toLocaleString("en-US");

/** The last cell of a row: wrk's errors or the tunnel's failed downloads, the phase's problems and log lines. */
function trouble(row: Measurement<unknown>, own: string): string {
  return own + (row.problems.length ? ` ⚠ ${row.problems.join("; ")}` : "") + (row.logLines.length ? ` ⚠ ${countEvents(row.logLines)} errors logged` : "");
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function errors(r: WrkResult): string {
  const s = r.socketErrors;
  const parts = Object.entries(s)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`);
  if (r.errorStatus) parts.push(`status≥400: ${r.errorStatus}`);
  return parts.length ? `**${parts.join(", ")}**` : "0";
}

function table(phase: Phase): string {
  const base = phase.rows.find((r) => r.target.name === "direct")?.result;
  const head = ["target", "req/s", "× direct", ...(phase.showThroughput ? ["MiB/s"] : []), "p50 ms", "p99 ms", "peak RSS MiB", "proxy CPU", "other CPU", "wrk errors"];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`];
  for (const row of phase.rows) {
    const r = row.result;
    if (!r) {
      lines.push(`| ${row.target.name} | skipped: ${row.skipped ?? "?"} |${" |".repeat(head.length - 2)}`);
      continue;
    }
    const rss = row.peakRss ? `${f1(row.peakRss.kib / 1024)}${row.peakRss.processes > 1 ? ` (${row.peakRss.processes} procs)` : ""}` : "–";
    const pct = (s: number | undefined) => (s === undefined ? "–" : `${Math.round((s / phase.seconds) * 100)} %`);
    const cells = [
      row.target.name,
      thousands(r.rps),
      base ? f2(r.rps / base.rps) : "–",
      ...(phase.showThroughput ? [thousands(r.bytesPerSec / 1024 ** 2)] : []),
      f2(r.p50Ms),
      f2(r.p99Ms),
      rss,
      pct(row.cpuSeconds),
      pct(row.otherCpuSeconds),
      trouble(row, errors(r)),
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

/** Median MiB/s of the downloads; CPU shares over the wall time of all of them. */
function tunnelTable(rows: Measurement<TunnelResult>[]): string {
  const rate = (row: Measurement<TunnelResult> | undefined) => (row?.result?.bytesPerSec.length ? median(row.result.bytesPerSec) : undefined);
  const base = rate(rows.find((r) => r.target.name === "direct"));
  const head = ["target", "MiB/s", "× direct", "each download MiB/s", "peak RSS MiB", "proxy CPU", "other CPU", "failed downloads"];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`];
  for (const row of rows) {
    const r = row.result;
    // only targets that ran have tunnel rows
    if (!r) continue;
    const mib = (b: number) => thousands(b / 1024 ** 2);
    const pct = (s: number | undefined) => (s === undefined ? "–" : `${Math.round((s / r.seconds) * 100)} %`);
    const own = rate(row);
    const cells = [
      row.target.name,
      own === undefined ? "–" : mib(own),
      own !== undefined && base ? f2(own / base) : "–",
      r.bytesPerSec.map(mib).join(", ") || "–",
      row.peakRss ? f1(row.peakRss.kib / 1024) : "–",
      pct(row.cpuSeconds),
      pct(row.otherCpuSeconds),
      trouble(row, r.failures.length ? `**${r.failures.length}: ${r.failures[0]}**` : "0"),
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

export function renderRun(run: RunInfo): string {
  const out: string[] = [];
  const date = run.date.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  out.push(`## ${date}: \`${run.command}\``, "");
  out.push(`- **Command:** \`${run.command}\` (from the repository root)`);
  out.push(`- **Machine:** ${run.machine.cpus} CPUs (nproc), ${run.machine.model}, ${run.machine.memGiB} GiB. wrk, the upstream and the proxy under test share these cores, so read the ratios rather than the absolute numbers.`);
  out.push(`- **Versions:** ${Object.entries(run.versions).map(([k, v]) => `${k} ${v}`).join("; ")}`);
  out.push(`- **sallyport source:** ${run.commit}`);
  out.push(`- **Upstream:** ${run.upstream}`);
  out.push(`- **Load:** ${run.load}`);
  out.push(`- **Columns:** latency percentiles from \`wrk --latency\`; peak RSS = VmHWM from /proc/PID/status, reset before each phase (\`echo 5 > /proc/PID/clear_refs\`), summed over the proxy's process tree (nginx: master + worker); proxy CPU = user+system CPU time of that tree during the run ÷ wall time (100 % = one core); other CPU = the same for all processes outside the benchmark (another job on the machine makes a run unreliable); wrk errors = socket errors plus responses with status ≥ 400.`);
  out.push("");
  for (const phase of run.phases) {
    out.push(`### ${phase.title} — \`${phase.wrkShape}\``, "", table(phase), "");
  }
  if (run.tunnel) {
    out.push(`### ${run.tunnel.title}`, "", "MiB/s = the median download, as curl measured it; proxy and other CPU over the wall time of all measured downloads; a download fails on a curl error, a status other than 200 or a short body.", "");
    out.push(tunnelTable(run.tunnel.rows), "");
  }
  out.push("**Targets**", "");
  for (const t of run.targets) out.push(`- **${t.name}**: ${t.setup}`);
  out.push("");
  if (run.notes.length) {
    out.push("**Notes from this run**", "");
    for (const n of run.notes) out.push(`- ${n}`);
    out.push("");
  }
  out.push("<details><summary>exact wrk and curl commands</summary>", "", "```");
  for (const phase of run.phases) for (const row of phase.rows) if (row.result) out.push(row.result.cmd.map(shellQuote).join(" "));
  for (const row of run.tunnel?.rows ?? []) if (row.result) out.push(row.result.cmd.map(shellQuote).join(" "));
  out.push("```", "", "</details>", "");
  if (run.micro) out.push("### micro: route matcher (`bench/matcher.ts`)", "", "```", run.micro.trimEnd(), "```", "");
  return out.join("\n");
}

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

export const RESULTS_HEADER = `# Benchmark results

Written by \`bench/run.ts\` (\`npm run bench\`, or \`npm run bench -- --quick\`); each run appends a
section below, newest last. All traffic is on 127.0.0.1. Compare runs by their "× direct" ratios:
the machines are small and shared, and absolute numbers move by ±10 % between runs.

`;
