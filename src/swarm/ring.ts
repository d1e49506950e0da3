/**
 * @module
 * Consistent hashing of keys onto shards: each shard owns many points on a ring of 32-bit
 * hashes, and a key belongs to the first point at or after its own hash. A shard that cannot be
 * used is stepped over, so only its keys move, to the shards after its points; they come back
 * when it does.
 */

/** Points per shard: enough that keys spread within a few percent. */
const POINTS = 160;

const hash32 = (text: string): number => Number(Bun.hash.xxHash32(text));

export class Ring<T extends { readonly address: string }> {
  /** point hashes, ascending, and the shard each belongs to */
  readonly #points: Uint32Array;
  readonly #owners: T[];

  constructor(readonly shards: readonly T[]) {
    const points = shards.flatMap((shard) => Array.from({ length: POINTS }, (_, i) => ({ at: hash32(`${shard.address}#${i}`), shard })));
    points.sort((a, b) => a.at - b.at);
    this.#points = Uint32Array.from(points, (p) => p.at);
    this.#owners = points.map((p) => p.shard);
  }

  /** The shard for `key`: the first usable one from the key's point on; undefined when none is. */
  pick(key: string, usable: (shard: T) => boolean): T | undefined {
    const n = this.#points.length;
    if (n === 0) return undefined;
    let i = this.#firstAtOrAfter(hash32(key));
    const tried = new Set<T>();
    for (let step = 0; step < n && tried.size < this.shards.length; step++, i = (i + 1) % n) {
      const shard = this.#owners[i]!;
      if (tried.has(shard)) continue;
      if (usable(shard)) return shard;
      tried.add(shard);
    }
    return undefined;
  }

  #firstAtOrAfter(h: number): number {
    const points = this.#points;
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return lo === points.length ? 0 : lo;
  }
}
