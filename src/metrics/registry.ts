/**
 * @module
 * A small metrics registry of our own: labelled counters and histograms updated on the request
 * path, and values read from their owners at scrape time (breaker states, DNS counts, memory).
 * bench/metrics.ts measured it against prom-client for the one thing the request path does —
 * observe a completed exchange — and bench/RESULTS.md has the numbers that chose it.
 *
 * A series is found by walking one map per label value, so an update builds no key and hashes
 * only strings that already exist (a joined key would be a new string every time); its label
 * set is written out once, when the series is created, so a scrape only concatenates. Label
 * values are whatever the caller passes: bounding them (hosts, methods) is the caller's job,
 * see ./labels.ts.
 *
 * ```ts
 * const registry = new MetricRegistry();
 * const requests = registry.counter("x_requests_total", "Requests.", ["code"]);
 * requests.inc(["2xx"]);
 * registry.collect("x_open", "Open things.", "gauge", [], (emit) => emit([], open.size));
 * registry.render(); // "# HELP x_requests_total Requests.\n# TYPE x_requests_total counter\n…"
 * ```
 */
import { familyHeader, formatValue, labelSet } from "./text.ts";

/** Hands one sample of a collected family to the scrape. */
export type Emit = (labels: readonly string[], value: number) => void;

interface Family {
  readonly name: string;
  /** appends the family's samples, header included */
  write(out: string[]): void;
}

/** A family's series by label values: nested maps, one level per label, the series at the leaves. */
class SeriesTree<S> {
  readonly #root = new Map<string, unknown>();
  readonly #all: S[] = [];
  #unlabelled: S | undefined;

  constructor(readonly create: (values: readonly string[]) => S) {}

  get(values: readonly string[]): S {
    if (values.length === 0) return (this.#unlabelled ??= this.#add(values));
    let node = this.#root;
    const last = values.length - 1;
    for (let i = 0; i < last; i++) {
      let next = node.get(values[i]!) as Map<string, unknown> | undefined;
      if (!next) node.set(values[i]!, (next = new Map()));
      node = next;
    }
    let series = node.get(values[last]!) as S | undefined;
    if (!series) node.set(values[last]!, (series = this.#add(values)));
    return series;
  }

  /** Without creating it; for tests. */
  find(values: readonly string[]): S | undefined {
    if (values.length === 0) return this.#unlabelled;
    let node: unknown = this.#root;
    for (const value of values) node = (node as Map<string, unknown> | undefined)?.get(value);
    return node as S | undefined;
  }

  /** Every series, in the order they appeared. */
  values(): readonly S[] {
    return this.#all;
  }

  #add(values: readonly string[]): S {
    const series = this.create(values);
    this.#all.push(series);
    return series;
  }
}

interface Series {
  readonly labels: string;
  value: number;
}

export class Counter {
  readonly #series = new SeriesTree<Series>((values) => ({ labels: labelSet(this.labelNames, values), value: 0 }));

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {}

  inc(values: readonly string[], by = 1): void {
    this.#series.get(values).value += by;
  }

  /** The current value of one series (0 if it has none yet), for tests. */
  get(values: readonly string[]): number {
    return this.#series.find(values)?.value ?? 0;
  }

  write(out: string[]): void {
    out.push(familyHeader(this.name, this.help, "counter"));
    for (const series of this.#series.values()) out.push(`${this.name}${series.labels} ${formatValue(series.value)}\n`);
  }
}

interface HistogramSeries {
  readonly values: readonly string[];
  /** per bucket, not cumulative; the last slot is above the largest bound */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

export class Histogram {
  readonly #series = new SeriesTree<HistogramSeries>((values) => ({ values: [...values], counts: new Float64Array(this.buckets.length + 1), sum: 0, count: 0 }));

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    /** upper bounds, ascending; +Inf is implied */
    readonly buckets: readonly number[],
  ) {
    if (buckets.some((b, i) => i > 0 && b <= buckets[i - 1]!)) throw new RangeError(`${name}: buckets must ascend`);
  }

  observe(values: readonly string[], value: number): void {
    const series = this.#series.get(values);
    let i = 0;
    while (i < this.buckets.length && value > this.buckets[i]!) i++;
    series.counts[i]!++;
    series.sum += value;
    series.count++;
  }

  /** Creates a series with no observations yet, so it is scraped (as zeros) from the start. */
  init(values: readonly string[]): void {
    this.#series.get(values);
  }

  /** How many observations one series has (0 if none), for tests. */
  count(values: readonly string[]): number {
    return this.#series.find(values)?.count ?? 0;
  }

  write(out: string[]): void {
    out.push(familyHeader(this.name, this.help, "histogram"));
    for (const series of this.#series.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.buckets.length; i++) {
        cumulative += series.counts[i]!;
        const le = i < this.buckets.length ? formatValue(this.buckets[i]!) : "+Inf";
        out.push(`${this.name}_bucket${labelSet(this.labelNames, series.values, `le="${le}"`)} ${cumulative}\n`);
      }
      const labels = labelSet(this.labelNames, series.values);
      out.push(`${this.name}_sum${labels} ${formatValue(series.sum)}\n${this.name}_count${labels} ${series.count}\n`);
    }
  }
}

export class MetricRegistry {
  readonly #families: Family[] = [];
  readonly #names = new Set<string>();

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.#add(new Counter(name, help, labelNames));
  }

  histogram(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]): Histogram {
    return this.#add(new Histogram(name, help, labelNames, buckets));
  }

  /** A family whose samples are read when scraped: `read` emits each one. */
  collect(name: string, help: string, type: "counter" | "gauge", labelNames: readonly string[], read: (emit: Emit) => void): void {
    this.#add({
      name,
      write(out) {
        out.push(familyHeader(name, help, type));
        read((values, value) => out.push(`${name}${labelSet(labelNames, values)} ${formatValue(value)}\n`));
      },
    });
  }

  /** Every family in the text format, in the order they were added. */
  render(): string {
    const out: string[] = [];
    for (const family of this.#families) family.write(out);
    return out.join("");
  }

  #add<F extends Family>(family: F): F {
    if (this.#names.has(family.name)) throw new Error(`metric ${family.name} is registered twice`);
    this.#names.add(family.name);
    this.#families.push(family);
    return family;
  }
}
