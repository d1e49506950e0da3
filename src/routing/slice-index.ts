/**
 * @module
 * A string-keyed map that is queried with a slice of a longer string (`find(path, start, end)`),
 * so the hot path never allocates a substring to look up a path segment or a host name. Small
 * indexes are scanned; larger ones hash the slice's characters into buckets.
 */

interface Entry<V> {
  readonly key: string;
  readonly value: V;
}

// Below this many keys a scan that compares lengths first beats hashing.
const SCAN_LIMIT = 8;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** ASCII upper case to lower case; everything else unchanged. */
const foldChar = (c: number) => (c >= 0x41 && c <= 0x5a ? c | 0x20 : c);

export class SliceIndex<V> {
  readonly #entries: Entry<V>[] = [];
  #buckets: Map<number, Entry<V>[]> | undefined;

  /** With `foldCase`, keys are compared ASCII case-insensitively (give them lower-cased). */
  constructor(readonly foldCase = false) {}

  get size(): number {
    return this.#entries.length;
  }

  values(): V[] {
    return this.#entries.map((e) => e.value);
  }

  /** Build time: the value under `key`, or undefined. */
  get(key: string): V | undefined {
    return this.find(key, 0, key.length);
  }

  /** Build time: adds a key that is not there yet. */
  set(key: string, value: V): void {
    if (this.get(key) !== undefined) throw new Error(`duplicate key ${JSON.stringify(key)}`);
    const entry = { key, value };
    this.#entries.push(entry);
    if (this.#buckets) this.#addToBucket(entry);
    else if (this.#entries.length > SCAN_LIMIT) {
      this.#buckets = new Map();
      for (const e of this.#entries) this.#addToBucket(e);
    }
  }

  /** The value whose key equals s[start, end), or undefined. */
  find(s: string, start: number, end: number): V | undefined {
    const candidates = this.#buckets ? this.#buckets.get(this.#hash(s, start, end)) : this.#entries;
    if (candidates === undefined) return undefined;
    const length = end - start;
    for (let i = 0; i < candidates.length; i++) {
      const entry = candidates[i]!;
      if (entry.key.length === length && this.#equals(entry.key, s, start)) return entry.value;
    }
    return undefined;
  }

  #addToBucket(entry: Entry<V>): void {
    const h = this.#hash(entry.key, 0, entry.key.length);
    const bucket = this.#buckets!.get(h);
    if (bucket) bucket.push(entry);
    else this.#buckets!.set(h, [entry]);
  }

  #hash(s: string, start: number, end: number): number {
    let h = FNV_OFFSET;
    for (let i = start; i < end; i++) {
      const c = s.charCodeAt(i);
      h = Math.imul(h ^ (this.foldCase ? foldChar(c) : c), FNV_PRIME);
    }
    return h >>> 0;
  }

  #equals(key: string, s: string, start: number): boolean {
    if (!this.foldCase) return s.startsWith(key, start);
    for (let i = 0; i < key.length; i++) {
      if (key.charCodeAt(i) !== foldChar(s.charCodeAt(start + i))) return false;
    }
    return true;
  }
}
