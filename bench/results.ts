/**
 * @module
 * A run's results as plain data: what bench/results.json holds and what bench/report.ts renders.
 * A series of rounds becomes a row with its median round (by rate), the spread of the rounds,
 * errors summed over all of them and the highest peak RSS; ratios are between the median rounds.
 */
import { countEvents } from "./logs.ts";
import type { TransferResult } from "./curl.ts";
import type { Sample, Series } from "./rounds.ts";
import type { WrkResult } from "./wrk.ts";

export interface SampleData {
  readonly round: number;
  /** req/s for wrk tables, MiB/s for transfer tables */
  readonly rate?: number;
  readonly requests?: number;
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  readonly p999Ms?: number;
  readonly maxMs?: number;
  /** wall seconds of the run */
  readonly seconds: number;
  /** every error of this round: socket errors, statuses ≥ 400, a failed transfer, problems, logged error events */
  readonly errors: number;
  /** the same, in words */
  readonly errorText: string[];
  /** Connection: close shape: closes after a whole response that did not announce them (not errors; see WrkResult) */
  readonly unannouncedCloses?: number;
  /** up to five of the logged error lines */
  readonly logLines: string[];
  /** CPU of the proxy's process tree ÷ wall time (1 = one core) */
  readonly cpuShare?: number;
  readonly peakRssMiB?: number;
  readonly rssProcesses?: number;
  /** CPU of the processes outside the measurement ÷ wall time */
  readonly otherCpuShare?: number;
  readonly otherBusiest?: string[];
  /** the exact client command (wrk or curl), shell-quoted */
  readonly cmd?: string;
}

export interface RowData {
  readonly name: string;
  readonly setup: string;
  readonly skipped?: string;
  /** each round's rate, in round order */
  readonly rounds: (number | undefined)[];
  readonly median?: SampleData;
  /** (highest − lowest round) ÷ median, percent; undefined with fewer than two rounds */
  readonly spreadPct?: number;
  readonly errors: number;
  /** highest peak RSS of all rounds */
  readonly peakRssMiB?: number;
  /** median rate ÷ the median rate of the named row, per ratio of the table */
  readonly ratios: Record<string, number | undefined>;
  readonly samples: SampleData[];
}

export interface SeriesTable {
  readonly kind: "series";
  /** `scenario/load`, what goals and readers look up */
  readonly id: string;
  readonly title: string;
  readonly unit: "req/s" | "MiB/s";
  /** the rows ratios are taken against: column label → row name */
  readonly ratioTo: Record<string, string>;
  readonly rows: RowData[];
}

/** A table that is not rounds of a rate: reload times, start-up times, a breakdown. */
export interface PlainTable {
  readonly kind: "plain";
  readonly id: string;
  readonly title: string;
  /** a sentence under the title: what the numbers are */
  readonly intro?: string;
  readonly head: string[];
  readonly cells: string[][];
  /** the same numbers for the JSON */
  readonly data: Record<string, unknown>[];
  /** errors in this table (failed reloads, starts that never answered) */
  readonly errors: number;
}

export type Table = SeriesTable | PlainTable;

export interface ScenarioResult {
  readonly id: string;
  readonly title: string;
  /** what exactly is measured, for the report and the JSON */
  readonly measures: string;
  readonly tables: Table[];
  readonly targets: { name: string; setup: string }[];
  readonly notes: string[];
  /** what went wrong outside the tables (a script that failed, a scenario that could not run): each counts as an error */
  readonly failures?: string[];
  /** raw text sections, e.g. a script's output */
  readonly blocks?: { title: string; text: string }[];
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** wrk's own errors of one run, in words: socket errors by kind and statuses ≥ 400. */
function wrkErrors(r: WrkResult): string[] {
  const parts = Object.entries(r.socketErrors)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`);
  if (r.errorStatus) parts.push(`status≥400 ${r.errorStatus}`);
  return parts;
}

function wrkErrorCount(r: WrkResult): number {
  return Object.values(r.socketErrors).reduce((a, b) => a + b, 0) + r.errorStatus;
}

/** Rounds of wrk or of curl transfers as plain data. */
export function sampleData(s: Sample<WrkResult | TransferResult>): SampleData {
  const r = s.result;
  const wrk = r && "rps" in r ? r : undefined;
  const transfer = r && !("rps" in r) ? r : undefined;
  const own = wrk ? wrkErrors(wrk) : transfer?.failure ? [transfer.failure] : [];
  const ownCount = wrk ? wrkErrorCount(wrk) : transfer?.failure ? 1 : 0;
  const logEvents = countEvents(s.logLines);
  const errorText = [...own, ...s.problems, ...(logEvents ? [`${logEvents} errors logged`] : [])];
  const rate = wrk ? wrk.rps : transfer?.bytesPerSec !== undefined ? transfer.bytesPerSec / 2 ** 20 : undefined;
  return {
    round: s.round,
    rate,
    requests: wrk?.requests,
    unannouncedCloses: wrk?.unannouncedCloses || undefined,
    p50Ms: wrk?.p50Ms,
    p99Ms: wrk?.p99Ms,
    p999Ms: wrk?.p999Ms,
    maxMs: wrk?.maxMs,
    seconds: s.seconds,
    // a round without a result is an error in itself (its problem says why)
    errors: ownCount + s.problems.length + logEvents + (r ? 0 : s.problems.length ? 0 : 1),
    errorText,
    logLines: s.logLines.slice(0, 5),
    cpuShare: s.cpuSeconds === undefined ? undefined : s.cpuSeconds / s.seconds,
    peakRssMiB: s.peakRss ? s.peakRss.kib / 1024 : undefined,
    rssProcesses: s.peakRss?.processes,
    otherCpuShare: s.otherCpuSeconds === undefined ? undefined : s.otherCpuSeconds / s.seconds,
    otherBusiest: s.otherBusiest,
    cmd: r ? r.cmd.map(shellQuote).join(" ") : undefined,
  };
}

/** The round whose rate is the median (the lower middle one of an even count). */
function medianSample(samples: SampleData[]): SampleData | undefined {
  const rated = samples.filter((s) => s.rate !== undefined).sort((a, b) => a.rate! - b.rate!);
  return rated[Math.floor((rated.length - 1) / 2)];
}

export function seriesTable(id: string, title: string, unit: SeriesTable["unit"], series: Series<WrkResult | TransferResult>[], ratioTo: Record<string, string> = {}): SeriesTable {
  const rows = series.map((s) => {
    const samples = s.samples.map(sampleData);
    const rates = samples.map((x) => x.rate).filter((x): x is number => x !== undefined);
    const med = medianSample(samples);
    const rss = samples.map((x) => x.peakRssMiB).filter((x): x is number => x !== undefined);
    return {
      name: s.name,
      setup: s.setup,
      skipped: s.skipped,
      rounds: samples.map((x) => x.rate),
      median: med,
      spreadPct: rates.length > 1 && med?.rate ? ((Math.max(...rates) - Math.min(...rates)) / med.rate) * 100 : undefined,
      errors: samples.reduce((n, x) => n + x.errors, 0),
      peakRssMiB: rss.length ? Math.max(...rss) : undefined,
      ratios: {},
      samples,
    } satisfies RowData as RowData;
  });
  for (const row of rows) {
    for (const [label, to] of Object.entries(ratioTo)) {
      const base = rows.find((r) => r.name === to)?.median?.rate;
      row.ratios[label] = base && row.median?.rate !== undefined ? row.median.rate / base : undefined;
    }
  }
  return { kind: "series", id, title, unit, ratioTo, rows };
}

/** A row of a series table by table id and row name, if it has a median round. */
export function findRow(scenarios: readonly ScenarioResult[], tableId: string, name: string): RowData | undefined {
  for (const s of scenarios) {
    for (const t of s.tables) if (t.kind === "series" && t.id === tableId) return t.rows.find((r) => r.name === name && r.median);
  }
  return undefined;
}

export function findPlain(scenarios: readonly ScenarioResult[], tableId: string): PlainTable | undefined {
  for (const s of scenarios) for (const t of s.tables) if (t.kind === "plain" && t.id === tableId) return t;
  return undefined;
}
