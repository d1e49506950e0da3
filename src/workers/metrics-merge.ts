/**
 * @module
 * One `/metrics` for `-workers N`: the primary scrapes each worker's own exposition (written by
 * src/metrics/) and answers with one text in the same format (0.0.4), every series once.
 *
 * A family keeps the place where it first appeared, its HELP and TYPE lines are the first seen.
 * A series is its sample name and its label set exactly as written (src/metrics writes a label
 * set the same way in every process, `le` last), so two workers' series are the same series only
 * when they are spelled the same. Its merged value:
 *
 * - counter, histogram (every `_bucket`, `_sum`, `_count`), summary, untyped: the sum;
 * - gauge: per family, by {@link GAUGE_MERGE}; the sum for a gauge not listed there.
 *
 * A series only some workers have is kept as it is. Timestamps are dropped: a merged value is
 * of no one instant, and src/metrics writes none. Input is read leniently: a line that is no
 * comment and no well-formed sample (name, label set, value, optional timestamp) is skipped, so
 * a worker's broken line costs that line, never the scrape.
 *
 * One pass per text, line by line, a Map per family: 7000 series from each of 8 workers merge in
 * 35-70 ms (the test has a bound).
 *
 * ```ts
 * const texts = await Promise.all(workers.map((w) => w.scrapeMetrics()));
 * return new Response(mergeExpositions(texts), { headers: { "content-type": CONTENT_TYPE } });
 * ```
 */
import { formatValue } from "../metrics/text.ts";

export type Merge = "sum" | "max" | "min";

/**
 * How each gauge src/metrics writes is merged (test/workers/metrics-merge.test.ts checks that
 * every gauge it writes is listed here, so a new one is decided, not defaulted).
 *
 * Things each worker holds add up:
 * memory (RSS and heap are each process's own), what listeners have open, requests in flight,
 * tunnels open.
 *
 * `sallyport_circuit_breaker_state` is not an enum but a count: per host and state, how many of
 * the worker's live breakers are in that state (breakers.ts). Every worker has breakers of its
 * own, so the sum is again a count, of the breakers in all workers: `{state="open"} > 0` still
 * means "open in some worker", and closed + half-open + open is the number of breakers, so a
 * dashboard reads "2 of 4 open". The maximum would show "open anywhere" too, but lose how many.
 *
 * Times are the worst case: the earliest.
 * - a certificate's expiry: the one that lapses first is what an alert must see; after a
 *   rotation one worker still serving the old certificate must not hide behind the others;
 * - a secret's last good read: the stalest worker's, so "not read for an hour" fires even when
 *   only one worker's refresh is stuck;
 * - the start time: the oldest worker's, the start of the service as a whole (a restarted
 *   worker shows instead as its counters' drop in the sums, which Prometheus reads as a reset).
 */
export const GAUGE_MERGE: Readonly<Record<string, Merge>> = {
  process_resident_memory_bytes: "sum",
  sallyport_heap_used_bytes: "sum",
  sallyport_heap_size_bytes: "sum",
  sallyport_listener_open: "sum",
  sallyport_listener_waiting: "sum",
  sallyport_response_bytes_queued: "sum",
  sallyport_requests_in_flight: "sum",
  sallyport_tunnels_open: "sum",
  sallyport_circuit_breaker_state: "sum",
  sallyport_tls_certificate_expiry_timestamp_seconds: "min",
  sallyport_secrets_last_read_timestamp_seconds: "min",
  process_start_time_seconds: "min",
};

/**
 * A gauge not in {@link GAUGE_MERGE}: the sum. What a process measures of itself (open, queued,
 * in flight, bytes) is the common gauge and adds up; the gauges that do not (times, worst cases)
 * are few, and listed. A missed one summed shows N times too large, plain to see; a missed
 * additive one maxed would be quietly 1/N of the truth.
 */
const DEFAULT_GAUGE_MERGE: Merge = "sum";

const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);
const HELP = /^(?:[^\\]|\\[\\n])*$/;

interface Family {
  readonly name: string;
  /** as written after the name, still escaped */
  help: string | undefined;
  type: string | undefined;
  merge: Merge;
  /** by sample name and label set as written (the line's start, up to the value) */
  readonly series: Map<string, { value: number }>;
}

export function mergeExpositions(texts: readonly string[]): string {
  const families = new Map<string, Family>();
  for (const text of texts) read(text, families);
  const out: string[] = [];
  for (const family of families.values()) {
    if (family.help !== undefined) out.push(`# HELP ${family.name} ${family.help}\n`);
    if (family.type !== undefined) out.push(`# TYPE ${family.name} ${family.type}\n`);
    for (const [series, { value }] of family.series) out.push(`${series} ${formatValue(value)}\n`);
  }
  return out.join("");
}

function read(text: string, families: Map<string, Family>): void {
  /** the family the last HELP or TYPE line named: its samples follow */
  let current: Family | undefined;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    let line = text.slice(start, end);
    start = end + 1;
    if (line.endsWith("\r")) line = line.slice(0, -1);
    if (line === "") continue;
    if (line.charCodeAt(0) === HASH) {
      current = comment(line, families) ?? current;
      continue;
    }
    sample(line, current, families);
  }
}

/** A HELP or TYPE line: notes what it says (the first such line wins) and returns its family. */
function comment(line: string, families: Map<string, Family>): Family | undefined {
  const help = line.startsWith("# HELP ");
  if (!help && !line.startsWith("# TYPE ")) return undefined; // any other comment
  const nameEnd = nameEndAt(line, 7);
  if (nameEnd === 7 || (nameEnd < line.length && line.charCodeAt(nameEnd) !== SPACE)) return undefined;
  const name = line.slice(7, nameEnd);
  const rest = line.slice(nameEnd + 1);
  // Help escapes only backslash and line feed; any other escape would make the whole merged text unreadable.
  if (help ? !HELP.test(rest) : !TYPES.has(rest)) return undefined;
  let family = families.get(name);
  if (!family) families.set(name, (family = newFamily(name)));
  if (help) family.help ??= rest;
  // A TYPE after the family's samples would contradict them; the format forbids it, so it is ignored.
  else if (family.type === undefined && family.series.size === 0) {
    family.type = rest;
    family.merge = rest === "gauge" ? (GAUGE_MERGE[name] ?? DEFAULT_GAUGE_MERGE) : "sum";
  }
  return family;
}

function sample(line: string, current: Family | undefined, families: Map<string, Family>): void {
  const nameEnd = nameEndAt(line, 0);
  if (nameEnd === 0) return;
  let keyEnd = nameEnd;
  if (line.charCodeAt(nameEnd) === BRACE) keyEnd = labelSetEnd(line, nameEnd);
  if (keyEnd < 0) return;
  const value = valueOf(line, keyEnd);
  if (value === undefined) return;
  const name = line.slice(0, nameEnd);
  const family = current && belongs(current, name) ? current : familyOf(name, families);
  if (!family) return;
  const key = line.slice(0, keyEnd);
  const merged = family.series.get(key);
  if (merged) merged.value = combine(family.merge, merged.value, value);
  else family.series.set(key, { value });
}

/** The family a sample outside its family's header belongs to, made untyped if there is none; undefined if its name is taken by a family it cannot be part of. */
function familyOf(name: string, families: Map<string, Family>): Family | undefined {
  const own = families.get(name);
  if (own) return belongs(own, name) ? own : undefined;
  const cut = name.endsWith("_bucket") ? 7 : name.endsWith("_count") ? 6 : name.endsWith("_sum") ? 4 : 0;
  const base = cut > 0 ? families.get(name.slice(0, -cut)) : undefined;
  if (base && belongs(base, name)) return base;
  const family = newFamily(name);
  families.set(name, family);
  return family;
}

/** Whether a sample of this name is one of the family's: the name itself, or a histogram's or summary's suffixed samples. */
function belongs(family: Family, name: string): boolean {
  const { name: base, type } = family;
  if (name === base) return type !== "histogram";
  if ((type !== "histogram" && type !== "summary") || !name.startsWith(base)) return false;
  const suffix = name.slice(base.length);
  return suffix === "_sum" || suffix === "_count" || (suffix === "_bucket" && type === "histogram");
}

const newFamily = (name: string): Family => ({ name, help: undefined, type: undefined, merge: "sum", series: new Map() });

function combine(merge: Merge, a: number, b: number): number {
  if (merge === "sum") return a + b;
  // As Prometheus's max() and min(): NaN only when every value is.
  if (Number.isNaN(a)) return b;
  if (Number.isNaN(b)) return a;
  return merge === "max" ? Math.max(a, b) : Math.min(a, b);
}

const HASH = 0x23;
const SPACE = 0x20;
const TAB = 0x09;
const BRACE = 0x7b;
const CLOSE = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const EQUALS = 0x3d;
const COMMA = 0x2c;

/** Where a metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`) starting at `at` ends; `at` if there is none. */
function nameEndAt(line: string, at: number): number {
  let i = at;
  while (i < line.length) {
    const c = line.charCodeAt(i);
    if (!(isLetter(c) || c === 0x3a || (i > at && isDigit(c)))) break;
    i++;
  }
  return i;
}

const isLetter = (c: number): boolean => (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f;
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

/**
 * Past the `}` of the label set opening at `at`: `{name="value",…}`, a trailing comma allowed,
 * values escaping only `\\`, `\"` and `\n` (what Prometheus accepts); -1 if it is not one.
 */
function labelSetEnd(line: string, at: number): number {
  let i = at + 1;
  for (;;) {
    if (line.charCodeAt(i) === CLOSE) return i + 1;
    const nameStart = i;
    while (i < line.length) {
      const c = line.charCodeAt(i);
      if (!(isLetter(c) || (i > nameStart && isDigit(c)))) break;
      i++;
    }
    if (i === nameStart || line.charCodeAt(i) !== EQUALS || line.charCodeAt(i + 1) !== QUOTE) return -1;
    i += 2;
    for (;;) {
      if (i >= line.length) return -1;
      const c = line.charCodeAt(i);
      if (c === QUOTE) break;
      if (c === BACKSLASH) {
        const next = line.charCodeAt(i + 1);
        if (next !== BACKSLASH && next !== QUOTE && next !== 0x6e) return -1;
        i += 2;
      } else i++;
    }
    i++; // past the closing quote
    const c = line.charCodeAt(i);
    if (c === COMMA) i++;
    else if (c !== CLOSE) return -1;
  }
}

/** The value after the series (blanks, value, optionally blanks and a timestamp, blanks); undefined if the rest is not that. */
function valueOf(line: string, at: number): number | undefined {
  let i = at;
  if (!isBlank(line.charCodeAt(i))) return undefined;
  while (isBlank(line.charCodeAt(i))) i++;
  const valueStart = i;
  while (i < line.length && !isBlank(line.charCodeAt(i))) i++;
  const value = parseValue(line.slice(valueStart, i));
  if (value === undefined) return undefined;
  while (isBlank(line.charCodeAt(i))) i++;
  if (i === line.length) return value;
  const stampStart = i;
  while (i < line.length && !isBlank(line.charCodeAt(i))) i++;
  if (!TIMESTAMP.test(line.slice(stampStart, i))) return undefined;
  while (isBlank(line.charCodeAt(i))) i++;
  return i === line.length ? value : undefined;
}

const isBlank = (c: number): boolean => c === SPACE || c === TAB;

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const TIMESTAMP = /^-?\d+$/;

/** A value as Go's ParseFloat reads the format's: decimals with or without exponent, NaN, Inf with or without sign (any case). */
function parseValue(token: string): number | undefined {
  if (NUMBER.test(token)) return Number(token);
  switch (token.toLowerCase()) {
    case "nan":
      return NaN;
    case "+inf":
    case "inf":
      return Infinity;
    case "-inf":
      return -Infinity;
    default:
      return undefined;
  }
}
