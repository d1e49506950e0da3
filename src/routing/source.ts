/**
 * @module
 * Where routes come from: `-inline-routes` and the `-routes-file` list, re-read every
 * `-source-poll-timeout` ms. A file that fails to parse keeps the previous table serving and is
 * logged as `file:line:col: message`. A file that is not there any more (ENOENT, ENOTDIR) takes its
 * routes with it; any other read error (EACCES, EISDIR, EMFILE, a FIFO in its place) keeps the
 * file's last good routes, because a file that exists but cannot be read right now says nothing
 * about which routes should serve. At startup every read error is fatal.
 *
 * Polls never overlap: the poll timer and SIGHUP both call {@link RouteSource.poll}, a poll asked
 * for while one runs waits for it and then reads again (several such asks share one follow-up), so
 * an older read can never be applied after a newer one; the timer schedules its next poll only
 * after the current one ended.
 */
import type { ConsolaInstance } from "consola/core";
import type { RouteDef } from "../eskip/ast.ts";
import { EskipError, parse, parseSteps } from "../eskip/index.ts";
import { errorCode, readTextFile } from "../util/read-file.ts";
import { runStepsAsync } from "../util/steps.ts";
import { systemClock, type Clock, type Timer } from "../util/clock.ts";
import { buildTable, buildTableAsync, closeFilters, DEFAULT_YIELD_EVERY, describeDuplicate, type Registries } from "./build.ts";
import type { RoutingTable } from "./table.ts";
import type { RouteProblem } from "./types.ts";

export interface RouteSourceOptions {
  readonly inlineRoutes: string;
  readonly files: readonly string[];
  readonly pollMs: number;
  readonly registries: Registries;
  readonly log: ConsolaInstance;
  /**
   * Reads a routes file, rejecting with a Node-style error (`code`, else the message says why);
   * tests pass a slow or scripted one. Default {@link readTextFile}.
   */
  readonly read?: (file: string) => Promise<string>;
  /** times the polls; default the system clock */
  readonly clock?: Clock;
  /** routes built between two yields to the event loop during a rebuild (default 2,000) */
  readonly buildYieldEvery?: number;
}

/** Thrown at startup when the configured routes cannot be read or parsed. */
export class RouteSourceError extends Error {}

export class RouteSource {
  #table: RoutingTable;
  #timer: Timer | undefined;
  /** last text read per file; no entry while the file is gone */
  readonly #texts = new Map<string, string>();
  /** the read error a file last failed with, so each distinct error is logged once */
  readonly #readErrors = new Map<string, string>();
  readonly #defs = new Map<string, RouteDef[]>();
  readonly #inline: RouteDef[];
  readonly #origin = new WeakMap<RouteDef, string>();
  readonly #read: (file: string) => Promise<string>;
  readonly #clock: Clock;
  #running: Promise<boolean> | undefined;
  #queued: Promise<boolean> | undefined;

  private constructor(
    readonly options: RouteSourceOptions,
    inline: RouteDef[],
  ) {
    this.#inline = inline;
    this.#read = options.read ?? readTextFile;
    this.#clock = options.clock ?? systemClock;
    for (const def of inline) this.#origin.set(def, "-inline-routes");
    this.#table = buildTable([], options.registries);
  }

  /** Reads everything once; any read or parse error is fatal here, as a bad start should be. */
  static async load(options: RouteSourceOptions): Promise<RouteSource> {
    let inline: RouteDef[] = [];
    try {
      inline = options.inlineRoutes.trim() ? parse(options.inlineRoutes) : [];
    } catch (e) {
      throw new RouteSourceError(`error while parsing inline routes: ${describe(e, "-inline-routes")}`);
    }
    const source = new RouteSource(options, inline);
    for (const file of options.files) {
      let text: string;
      try {
        text = await source.#read(file);
      } catch (e) {
        throw new RouteSourceError(`${file}: cannot read routes file: ${errorCode(e)}`);
      }
      const error = await source.#accept(file, text);
      if (error) throw new RouteSourceError(error);
    }
    await source.#rebuild();
    return source;
  }

  get table(): RoutingTable {
    return this.#table;
  }

  /** Polls the files every `pollMs` after the previous poll ended; call stop() on shutdown. */
  watch(): void {
    if (!this.#timer) this.#schedulePoll();
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  #schedulePoll(): void {
    const timer = this.#clock.setTimeout(async () => {
      await this.poll();
      // Only the chain of the current watch() goes on: stop() (and a later watch()) ends this one.
      if (this.#timer === timer) this.#schedulePoll();
    }, this.options.pollMs);
    this.#timer = timer;
  }

  /**
   * One poll round: re-reads every file, rebuilds when any changed. Returns whether the table
   * changed. Never rejects: an unexpected error is logged and the previous table keeps serving.
   * A call while a round runs waits for it and then runs one more round, shared by all such calls.
   */
  poll(): Promise<boolean> {
    if (this.#running) {
      const next = () => {
        this.#queued = undefined;
        return this.poll();
      };
      this.#queued ??= this.#running.then(next, next);
      return this.#queued;
    }
    this.#running = this.#pollOnce()
      .catch((e: unknown) => {
        this.options.log.error(`error while polling routes; keeping the previous routes: ${(e as Error)?.message ?? e}`);
        return false;
      })
      .finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #pollOnce(): Promise<boolean> {
    let changed = false;
    for (const file of this.options.files) if (await this.#reread(file)) changed = true;
    if (changed) await this.#rebuild();
    return changed;
  }

  /** Reads one file again; returns whether its routes changed. */
  async #reread(file: string): Promise<boolean> {
    let text: string;
    try {
      text = await this.#read(file);
    } catch (e) {
      const code = errorCode(e);
      if (GONE.has(code)) return this.#forget(file);
      if (this.#readErrors.get(file) !== code) {
        this.#readErrors.set(file, code);
        this.options.log.error(`error while reading routes file ${file}: ${code}; keeping the previous routes`);
      }
      return false;
    }
    this.#readErrors.delete(file);
    if (text === this.#texts.get(file)) return false;
    const error = await this.#accept(file, text);
    if (error) this.options.log.error(`error while receiving update; keeping the previous routes: ${error}`);
    return !error;
  }

  #forget(file: string): boolean {
    this.#readErrors.delete(file);
    if (!this.#texts.delete(file)) return false;
    this.options.log.warn(`routes file ${file} is gone; its routes are removed`);
    this.#defs.delete(file);
    return true;
  }

  /** Parses a file's new text; on error remembers the text (so it is logged once) and keeps the old routes. */
  async #accept(file: string, text: string): Promise<string | undefined> {
    this.#texts.set(file, text);
    try {
      // A huge file is parsed a chunk of routes at a time, so requests are served in between.
      const defs = await runStepsAsync(parseSteps(text), this.options.buildYieldEvery ?? DEFAULT_YIELD_EVERY);
      for (const def of defs) this.#origin.set(def, file);
      this.#defs.set(file, defs);
      return undefined;
    } catch (e) {
      return describe(e, file);
    }
  }

  /**
   * Builds the next table while the current one serves, then swaps. The build yields to the event
   * loop every `buildYieldEvery` routes so requests are not starved, as the parse before it does.
   */
  async #rebuild(): Promise<void> {
    const defs = [...this.#inline, ...this.options.files.flatMap((f) => this.#defs.get(f) ?? [])];
    const previous = this.#table;
    const next = await buildTableAsync(defs, this.options.registries, {
      previous: new Map(previous.routes.map((r) => [r.id, r.def])),
      yieldEvery: this.options.buildYieldEvery,
    });
    this.#table = next;
    const { log } = this.options;
    for (const duplicate of next.duplicates) log.error(`${describeDuplicate(duplicate, (def) => this.#where(def))}; the last definition serves`);
    for (const problem of next.problems) log.error(this.describeProblem(problem));
    const kept = next.kept > 0 ? ` (${next.kept} kept from the previous table)` : "";
    log.info(`route settings applied, ${next.routes.length} routes, ${next.problems.length} invalid${kept}`);
    // Filters of the replaced table may hold resources (timers, watchers); let them go.
    for (const route of previous.routes) closeFilters(route.filters);
  }

  /** How many live routes serve their previous version because their new definition is invalid. */
  get invalidKept(): number {
    return this.#table.kept;
  }

  describeProblem(problem: RouteProblem): string {
    const at = problem.loc && this.#origin.has(problem.def) ? `${this.#where(problem.def, problem.loc)}: ` : "";
    const kept = problem.kept ? "; its previous version keeps serving" : "";
    return `${at}failed to process route ${problem.id}: ${problem.reason}: ${problem.message}${kept}`;
  }

  /** `file:line:col` of a definition (or of `loc` within it). */
  /** `file:line` of a definition this source read (for `/debug/explain`); undefined for any other. */
  whereOf(def: RouteDef): string | undefined {
    const origin = this.#origin.get(def);
    return origin === undefined ? undefined : `${origin}:${def.loc?.line ?? 1}`;
  }

  #where(def: RouteDef, loc = def.loc): string {
    return `${this.#origin.get(def) ?? "?"}:${loc?.line ?? 1}:${loc?.column ?? 1}`;
  }
}

function describe(e: unknown, file: string): string {
  return e instanceof EskipError ? e.format(file) : `${file}: ${(e as Error).message}`;
}

/** The read errors that mean "no such file": the file's routes go. Any other error keeps them. */
const GONE = new Set(["ENOENT", "ENOTDIR"]);


