/**
 * @module
 * A latency histogram that several processes can fill and one can add up: buckets 5 % wide on a
 * log scale from 10 µs to over a minute, so any percentile read from it is within 5 % of the
 * exact one, whatever the spread. The soak's load generators (bench/soak-load.ts) each send one
 * per 10 s as JSON; bench/soak.ts merges them into the p50/p99 of each interval. A list of every
 * latency would be exact too, but at thousands of requests a second it is megabytes per interval
 * to send and sort.
 */

/** the lower edge of bucket 0, in ms */
const FLOOR_MS = 0.01;
/** each bucket's upper edge is this times its lower one */
const GROWTH = 1.05;
const LOG_GROWTH = Math.log(GROWTH);

/** bucket index → count, only the buckets that were hit: what goes over the pipe */
export type SparseHistogram = Record<number, number>;

export class Histogram {
  readonly #counts = new Map<number, number>();
  #total = 0;

  get total(): number {
    return this.#total;
  }

  record(ms: number): void {
    const bucket = ms <= FLOOR_MS ? 0 : Math.floor(Math.log(ms / FLOOR_MS) / LOG_GROWTH);
    this.#counts.set(bucket, (this.#counts.get(bucket) ?? 0) + 1);
    this.#total++;
  }

  add(other: SparseHistogram): void {
    for (const [bucket, n] of Object.entries(other)) {
      this.#counts.set(Number(bucket), (this.#counts.get(Number(bucket)) ?? 0) + n);
      this.#total += n;
    }
  }

  toJSON(): SparseHistogram {
    return Object.fromEntries(this.#counts);
  }

  /** The latency below which `p` percent of the recorded ones lie (a bucket's upper edge), in ms; undefined when empty. */
  percentile(p: number): number | undefined {
    if (this.#total === 0) return undefined;
    const rank = Math.ceil((p / 100) * this.#total);
    let seen = 0;
    for (const bucket of [...this.#counts.keys()].sort((a, b) => a - b)) {
      seen += this.#counts.get(bucket)!;
      if (seen >= rank) return FLOOR_MS * GROWTH ** (bucket + 1);
    }
    return undefined;
  }
}
