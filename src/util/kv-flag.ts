/**
 * @module
 * Skipper's comma-separated `key=value` flags (`-breaker`, `-ratelimits`): one reader for the
 * pairs, Go's integer and duration syntax, and messages that keep Skipper's
 * `invalid <what> config` wording while naming the key at fault.
 */
import { parseDuration } from "./duration.ts";

export class KeyValueFlag<K extends string> {
  constructor(
    /** `breaker` → "invalid breaker config: …" */
    readonly what: string,
    readonly keys: readonly K[],
  ) {}

  error(detail: string): Error {
    return new Error(`invalid ${this.what} config: ${detail}`);
  }

  /** The pairs in order; a pair without `=` or with an unknown key throws. */
  *pairs(value: string): Generator<[K, string]> {
    for (const pair of value.split(",")) {
      const eq = pair.indexOf("=");
      if (eq < 0) throw this.error(`${JSON.stringify(pair)} is not key=value`);
      const key = pair.slice(0, eq);
      if (!this.keys.includes(key as K)) throw this.error(`unknown key ${JSON.stringify(key)} (allowed keys are: ${this.keys.join(", ")})`);
      yield [key as K, pair.slice(eq + 1)];
    }
  }

  /** A non-negative integer in Go's `strconv.Atoi` syntax, with Go's message when it is not one. */
  count(key: K, text: string): number {
    const n = this.#parse(key, () => goAtoi(text));
    if (n < 0) throw this.error(`${key}: must not be negative, got ${n}`);
    return n;
  }

  /** A non-negative Go duration (a unit is required except for `0`), in milliseconds. */
  duration(key: K, text: string): number {
    const ms = this.#parse(key, () => parseDuration(text));
    if (ms < 0) throw this.error(`${key}: must not be negative, got ${JSON.stringify(text)}`);
    return ms;
  }

  /** A value from a fixed list. */
  oneOf<V extends string>(key: K, text: string, allowed: readonly V[], names = allowed.join(", ")): V {
    if (!allowed.includes(text as V)) throw this.error(`${key}: ${JSON.stringify(text)} (allowed values are: ${names})`);
    return text as V;
  }

  #parse<T>(key: K, parse: () => T): T {
    try {
      return parse();
    } catch (e) {
      throw this.error(`${key}: ${(e as Error).message}`);
    }
  }
}

/** Go's `strconv.Atoi`: optional sign and decimal digits only, with Go's messages. */
export function goAtoi(text: string): number {
  if (!/^[+-]?\d+$/.test(text)) throw new Error(`strconv.Atoi: parsing ${JSON.stringify(text)}: invalid syntax`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new Error(`strconv.Atoi: parsing ${JSON.stringify(text)}: value out of range`);
  return n;
}
