/**
 * @module
 * The secrets store behind `-credentials-paths`: every refresh re-reads all registered paths into
 * a new map and swaps it in whole, so a request sees either the old or the new set, never a mix.
 * Refreshes come from the `-credentials-update-interval` tick (Skipper's only trigger), from
 * file-system events (sallyport's addition) and from SIGHUP via {@link SecretStore.refresh}.
 * Each read is counted for /metrics ({@link SecretStats}): paths and times, never a value.
 *
 * ```ts
 * const secrets = await SecretStore.open({ paths: ["/tmp/secrets"], intervalMs: 600_000, log });
 * secrets.start();
 * secrets.lookup("/tmp/secrets/mytoken"); // { ok: true, value: "mytoken" }
 * ```
 */
import type { ConsolaInstance } from "consola/core";
import { describeChanges } from "./changes.ts";
import type { SecretEntry } from "./read-file.ts";
import { directoriesToWatch, registerSecretPaths, scanSecretPaths, type SecretPath } from "./scan.ts";
import { systemClock, type Clock, type Timer } from "../util/clock.ts";
import { MISSING, type SecretLookup, type SecretProblem, type SecretsReader } from "./types.ts";
import { DirectoryWatcher } from "./watch.ts";

/** Skipper's `-credentials-update-interval` default, also used for a value ≤ 0. */
export const DEFAULT_UPDATE_INTERVAL_MS = 10 * 60_000;

/**
 * Writers such as `echo token > file` truncate first and write after: an event arrives between
 * the two. Waiting this long after the first event of a burst reads the finished file.
 */
export const DEFAULT_SETTLE_MS = 50;

export interface SecretStoreOptions {
  /** `-credentials-paths`: files and directories, each must exist at start */
  readonly paths: readonly string[];
  /** `-credentials-update-interval` in ms; ≤ 0 means the 10m default */
  readonly intervalMs: number;
  readonly log: ConsolaInstance;
  /** the real clock by default; tests pass a fake one and move time by hand */
  readonly clock?: Clock;
  /** react to file-system events between ticks (default true) */
  readonly watch?: boolean;
  readonly settleMs?: number;
}

/** What the refreshes did, for metrics: counts and times only, never a value. */
export interface SecretStats {
  /** completed reads of every path, the first one at open included */
  readonly reloads: number;
  /** secrets found unreadable or invalid, counted at each read, plus reads that failed outright */
  readonly errors: number;
  /** clock ms of the last read that found a usable value, by secret key (its path) */
  readonly lastRead: ReadonlyMap<string, number>;
}

export class SecretStore implements SecretsReader {
  readonly intervalMs: number;
  #entries: ReadonlyMap<string, SecretEntry> = new Map();
  readonly #paths: readonly SecretPath[];
  readonly #clock: Clock;
  readonly #log: ConsolaInstance;
  readonly #watcher: DirectoryWatcher | undefined;
  #running: Promise<void> | undefined;
  #queued: Promise<void> | undefined;
  #tick: Timer | undefined;
  #settle: Timer | undefined;
  #started = false;
  readonly #stats = { reloads: 0, errors: 0, lastRead: new Map<string, number>() };
  /** when a refused request was last logged, per secret */
  readonly #refusalLoggedAt = new Map<string, number>();

  private constructor(options: SecretStoreOptions, paths: readonly SecretPath[]) {
    this.intervalMs = options.intervalMs > 0 ? options.intervalMs : DEFAULT_UPDATE_INTERVAL_MS;
    this.#paths = paths;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.log;
    const settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;
    if (options.watch !== false && paths.length > 0) {
      this.#watcher = new DirectoryWatcher(directoriesToWatch(paths), () => this.#onFileEvent(settleMs), options.log);
    }
  }

  /**
   * Registers the paths and reads them once. Throws a CredentialsPathError naming every path
   * that does not exist. Call {@link start} to keep the values fresh.
   */
  static async open(options: SecretStoreOptions): Promise<SecretStore> {
    const store = new SecretStore(options, await registerSecretPaths(options.paths));
    await store.refresh();
    return store;
  }

  get stats(): SecretStats {
    return this.#stats;
  }

  lookup(name: string): SecretLookup {
    return this.#entries.get(name) ?? MISSING;
  }

  refused(name: string, filter: string, problem: SecretProblem): void {
    const now = this.#clock.now();
    const last = this.#refusalLoggedAt.get(name);
    if (last !== undefined && now - last < this.intervalMs) return;
    this.#refusalLoggedAt.set(name, now);
    const hint = problem === "missing" ? " Make sure the file exists in a path passed via the -credentials-paths flag." : "";
    this.#log.error(`Secret "${name}" is ${problem}: ${filter} filter refused the request with 503.${hint}`);
  }

  /**
   * Re-reads every path and swaps the map. A call during a refresh waits for it and then reads
   * again, so whatever the caller changed before calling is seen (SIGHUP after a rotation).
   */
  refresh(): Promise<void> {
    if (this.#running) {
      this.#queued ??= this.#running.then(() => {
        this.#queued = undefined;
        return this.refresh();
      });
      return this.#queued;
    }
    this.#running = this.#readAll().finally(() => (this.#running = undefined));
    return this.#running;
  }

  /** Starts the interval tick and the file-system watch; with no paths there is nothing to keep fresh. */
  start(): void {
    if (this.#started || this.#paths.length === 0) return;
    this.#started = true;
    this.#watcher?.ensure();
    this.#scheduleTick();
  }

  stop(): void {
    if (!this.#started) return;
    this.#started = false;
    this.#tick?.cancel();
    this.#settle?.cancel();
    this.#settle = undefined;
    this.#watcher?.close();
    this.#log.info("Stop secrets background refresher");
  }

  async #readAll(): Promise<void> {
    try {
      const next = await scanSecretPaths(this.#paths);
      for (const change of describeChanges(this.#entries, next)) this.#log[change.level](change.message);
      this.#entries = next;
      this.#count(next);
    } catch (e) {
      // The scan records a file's problems itself; it rejects when the process is out of file
      // descriptors, and for the unexpected. Either way nothing is known: the old values stay.
      this.#stats.errors++;
      this.#log.error(`Failed to refresh secrets, keeping the previous values: ${(e as Error).message}`);
    }
    if (this.#started) this.#watcher?.ensure();
  }

  /** A secret that turns unreadable keeps its last good time, so its age shows; a removed one goes. */
  #count(next: ReadonlyMap<string, SecretEntry>): void {
    const stats = this.#stats;
    const now = this.#clock.now();
    stats.reloads++;
    for (const [key, entry] of next) {
      if (entry.ok) stats.lastRead.set(key, now);
      else stats.errors++;
    }
    for (const key of stats.lastRead.keys()) if (!next.has(key)) stats.lastRead.delete(key);
  }

  #scheduleTick(): void {
    this.#tick = this.#clock.setTimeout(() => {
      if (!this.#started) return;
      return this.refresh().finally(() => {
        if (this.#started) this.#scheduleTick();
      });
    }, this.intervalMs);
  }

  #onFileEvent(settleMs: number): void {
    if (!this.#started || this.#settle !== undefined) return;
    this.#settle = this.#clock.setTimeout(() => {
      this.#settle = undefined;
      return this.refresh();
    }, settleMs);
  }
}
