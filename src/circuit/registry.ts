/**
 * @module
 * The breakers of a running proxy, one per destination `host:port` and merged settings
 * (Skipper's `circuit.Registry`):
 *
 * - global `-breaker` entries (no `host=`) merge into one default, the first entry's values
 *   winning and later ones filling what it left unset; idle TTL 1 h if still unset;
 * - a host entry is merged over that default (a later entry for the same host over the earlier
 *   one); `host=api.example.com` without a port applies to
 *   `api.example.com:443` and `api.example.com:80` (Skipper compares the string as written, so
 *   there it would match neither); an entry with the port wins over one without;
 * - route settings from the breaker filters are merged over the host's settings or the default;
 *   `disableBreaker()` wins outright.
 *
 * A breaker unused for longer than its idle TTL is dropped and starts fresh on next use, even if
 * it was open. Idle ones are swept whenever a breaker is created, oldest use first. Dynamic
 * destinations (one breaker per Host a client names) could still grow the registry without bound
 * within the TTL, so at most `maxBreakers` stay live: creating one more drops the least recently
 * used (Skipper has no such cap).
 */
import { DEFAULT_PORT, hasPort } from "../net/host-port.ts";
import type { Clock } from "../util/clock.ts";
import { CircuitBreaker, NO_BREAKER, type Breaker, type BreakerState, type StateChange } from "./breaker.ts";
import { breakerSettings, DEFAULT_IDLE_TTL, mergeSettings, NO_SETTINGS, settingsKey, type BreakerSettings } from "./settings.ts";

export interface BreakerRegistryOptions {
  /** the `-breaker` entries, in command-line order */
  readonly entries: readonly BreakerSettings[];
  readonly clock: Clock;
  /** `circuit breaker HOST went from closed to open` */
  readonly log?: (message: string) => void;
  /** most breakers live at once; default {@link DEFAULT_MAX_BREAKERS} */
  readonly maxBreakers?: number;
  /** makes each breaker: a {@link CircuitBreaker} unless told otherwise (`-workers`: a view of the primary's) */
  readonly create?: BreakerFactory;
}

/** A breaker whose state can be read, for metrics. */
export interface LiveBreaker extends Breaker {
  readonly state: BreakerState;
  /** the registry dropped it (idle, or the least recently used of too many) */
  dispose?(): void;
}

/** Makes the breaker of `host` under settings `key`; it reports its state changes to `onStateChange`. */
export type BreakerFactory = (host: string, settings: BreakerSettings, key: string, onStateChange: StateChange) => LiveBreaker;

/** How many breakers a registry keeps live at most unless told otherwise. */
export const DEFAULT_MAX_BREAKERS = 10_000;

/** A breaker of `host` under settings `key` changed state (for metrics; the log line is written either way). */
export type Transition = (host: string, from: BreakerState, to: BreakerState, key: string, breaker: LiveBreaker) => void;

/** Merged settings for one (host settings, route settings) pair, with their key, computed once. */
interface Resolved {
  readonly settings: BreakerSettings;
  readonly key: string;
}

/** A live breaker in the access list (least recently used first). */
interface Entry {
  readonly host: string;
  readonly key: string;
  readonly idleTTL: number;
  readonly breaker: LiveBreaker;
  lastUsed: number;
  prev: Entry | undefined;
  next: Entry | undefined;
}

/** A host entry without a port applies to these. */
const DEFAULT_PORTS = Object.values(DEFAULT_PORT).map((port) => `:${port}`);

export class BreakerRegistry {
  readonly #defaults: BreakerSettings;
  /** by `host:port` */
  readonly #hosts = new Map<string, BreakerSettings>();
  /** route settings (NO_SETTINGS for none) → the settings below them → merged */
  readonly #resolved = new WeakMap<BreakerSettings, Map<BreakerSettings, Resolved | null>>();
  readonly #breakers = new Map<string, Map<string, Entry>>();
  /** the access list: least recently used first */
  #oldest: Entry | undefined;
  #newest: Entry | undefined;
  #count = 0;
  readonly #max: number;
  readonly #clock: Clock;
  readonly #log: (message: string) => void;
  readonly #createBreaker: BreakerFactory;
  #transitionObservers: readonly Transition[] = [];
  /** no global or host breakers: only routes with breaker filters get one */
  readonly #routeOnly: boolean;

  constructor(options: BreakerRegistryOptions) {
    this.#clock = options.clock;
    this.#log = options.log ?? (() => {});
    this.#createBreaker = options.create ?? ((_host, settings, _key, onStateChange) => new CircuitBreaker(settings, this.#clock, onStateChange));
    const max = options.maxBreakers ?? DEFAULT_MAX_BREAKERS;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxBreakers must be a positive integer, got ${max}`);
    this.#max = max;
    let defaults = NO_SETTINGS;
    for (const entry of options.entries) if (!entry.host) defaults = mergeSettings(defaults, entry);
    this.#defaults = defaults.idleTTL ? defaults : breakerSettings({ ...defaults, idleTTL: DEFAULT_IDLE_TTL });
    const byHost = new Map<string, BreakerSettings>();
    for (const entry of options.entries) {
      if (entry.host) byHost.set(entry.host, mergeSettings(entry, byHost.get(entry.host) ?? this.#defaults));
    }
    // Entries with a port are set last so they win over a portless entry for the same host.
    const ordered = [...byHost].sort(([a], [b]) => Number(hasPort(a)) - Number(hasPort(b)));
    for (const [host, settings] of ordered) {
      for (const key of hasPort(host) ? [host] : DEFAULT_PORTS.map((port) => host + port)) this.#hosts.set(key, settings);
    }
    this.#routeOnly = this.#hosts.size === 0 && !isBreaker(this.#defaults);
  }

  /** How many breakers are live (for tests and metrics). */
  get size(): number {
    return this.#count;
  }

  /** Calls `observer` on every state change of any breaker; returns the unsubscribe function. */
  onTransition(observer: Transition): () => void {
    this.#transitionObservers = [...this.#transitionObservers, observer];
    return () => void (this.#transitionObservers = this.#transitionObservers.filter((o) => o !== observer));
  }

  /**
   * Each live breaker's destination and state, least recently used first (for metrics). Reading a
   * state may turn an open breaker whose timeout passed half-open, as a request would.
   */
  *states(): IterableIterator<[host: string, state: BreakerState]> {
    for (let entry = this.#oldest; entry; entry = entry.next) yield [entry.host, entry.breaker.state];
  }

  /**
   * The breaker for requests to `host` (`host:port`, default port included) under the route's
   * breaker settings, or {@link NO_BREAKER} when no breaker applies.
   */
  get(host: string, route: BreakerSettings = NO_SETTINGS): Breaker {
    // The common case without any breaker configured costs one comparison.
    if (route.type === "disabled" || (route === NO_SETTINGS && this.#routeOnly)) return NO_BREAKER;
    const resolved = this.#resolve(route, this.#hosts.get(host) ?? this.#defaults);
    if (!resolved) return NO_BREAKER;
    const now = this.#clock.now();
    let entry = this.#breakers.get(host)?.get(resolved.key);
    if (entry) this.#unlink(entry);
    if (!entry || now - entry.lastUsed > entry.idleTTL) {
      entry?.breaker.dispose?.();
      this.#sweep(now);
      // A new one may push the least recently used out; an idle one is replaced in place.
      if (!entry) {
        while (this.#count >= this.#max && this.#oldest) this.#remove(this.#oldest);
        this.#count++;
      }
      // Looked up after the sweep and eviction, which may have dropped the host's map.
      let byKey = this.#breakers.get(host);
      if (!byKey) this.#breakers.set(host, (byKey = new Map()));
      entry = this.#create(host, resolved, now);
      byKey.set(resolved.key, entry);
    }
    entry.lastUsed = now;
    this.#append(entry);
    return entry.breaker;
  }

  #resolve(route: BreakerSettings, below: BreakerSettings): Resolved | null {
    let byBelow = this.#resolved.get(route);
    if (!byBelow) this.#resolved.set(route, (byBelow = new Map()));
    let resolved = byBelow.get(below);
    if (resolved === undefined) {
      const settings = route === NO_SETTINGS ? below : mergeSettings(route, below);
      resolved = isBreaker(settings) ? { settings, key: settingsKey(settings) } : null;
      byBelow.set(below, resolved);
    }
    return resolved;
  }

  #create(host: string, { settings, key }: Resolved, now: number): Entry {
    const breaker: LiveBreaker = this.#createBreaker(host, settings, key, (from, to) => {
      this.#log(`circuit breaker ${host} went from ${from} to ${to}`);
      for (const observer of this.#transitionObservers) observer(host, from, to, key, breaker);
    });
    return { host, key, idleTTL: settings.idleTTL, breaker, lastUsed: now, prev: undefined, next: undefined };
  }

  /** Drops idle breakers from the least recently used end until one is still in use. */
  #sweep(now: number): void {
    while (this.#oldest && now - this.#oldest.lastUsed > this.#oldest.idleTTL) this.#remove(this.#oldest);
  }

  #remove(entry: Entry): void {
    entry.breaker.dispose?.();
    this.#unlink(entry);
    const byKey = this.#breakers.get(entry.host)!;
    byKey.delete(entry.key);
    if (byKey.size === 0) this.#breakers.delete(entry.host);
    this.#count--;
  }

  #append(entry: Entry): void {
    entry.prev = this.#newest;
    entry.next = undefined;
    if (this.#newest) this.#newest.next = entry;
    else this.#oldest = entry;
    this.#newest = entry;
  }

  #unlink(entry: Entry): void {
    if (entry.prev) entry.prev.next = entry.next;
    else if (this.#oldest === entry) this.#oldest = entry.next;
    if (entry.next) entry.next.prev = entry.prev;
    else if (this.#newest === entry) this.#newest = entry.prev;
    entry.prev = entry.next = undefined;
  }
}

const isBreaker = (s: BreakerSettings): boolean => s.type === "consecutive" || s.type === "rate";
