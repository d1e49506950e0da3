/**
 * @module
 * Where routes come from: `-inline-routes` and the `-routes-file` list, re-read every
 * `-source-poll-timeout` ms. A file that fails to parse keeps the previous table serving and is
 * logged as `file:line:col: message`; a file that disappears takes its routes with it.
 *
 * Polls never overlap: the interval and SIGHUP both call {@link RouteSource.poll}, and a poll asked
 * for while one runs waits for it and then reads again (several such asks share one follow-up), so
 * an older read can never be applied after a newer one.
 */
import { readFile } from "node:fs/promises";
import type { ConsolaInstance } from "consola";
import type { RouteDef } from "../eskip/ast.ts";
import { EskipError, parse } from "../eskip/index.ts";
import { buildTable, closeFilters, type Registries } from "./build.ts";
import type { RoutingTable } from "./table.ts";
import type { RouteProblem } from "./types.ts";

export interface RouteSourceOptions {
  readonly inlineRoutes: string;
  readonly files: readonly string[];
  readonly pollMs: number;
  readonly registries: Registries;
  readonly log: ConsolaInstance;
  /** reads a routes file, undefined when it cannot be read; tests pass a slow or scripted one */
  readonly read?: (file: string) => Promise<string | undefined>;
}

/** Thrown at startup when the configured routes cannot be read or parsed. */
export class RouteSourceError extends Error {}

export class RouteSource {
  #table: RoutingTable;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** last text seen per file; undefined = missing */
  readonly #texts = new Map<string, string | undefined>();
  readonly #defs = new Map<string, RouteDef[]>();
  readonly #inline: RouteDef[];
  readonly #origin = new WeakMap<RouteDef, string>();
  readonly #read: (file: string) => Promise<string | undefined>;
  #running: Promise<boolean> | undefined;
  #queued: Promise<boolean> | undefined;

  private constructor(
    readonly options: RouteSourceOptions,
    inline: RouteDef[],
  ) {
    this.#inline = inline;
    this.#read = options.read ?? readText;
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
      const text = await source.#read(file);
      if (text === undefined) throw new RouteSourceError(`${file}: cannot read routes file`);
      const error = source.#accept(file, text);
      if (error) throw new RouteSourceError(error);
    }
    source.#rebuild();
    return source;
  }

  get table(): RoutingTable {
    return this.#table;
  }

  /** Polls the files; call stop() on shutdown. */
  watch(): void {
    this.#timer ??= setInterval(() => void this.poll(), this.options.pollMs);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
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
    for (const file of this.options.files) {
      const text = await this.#read(file);
      if (text === this.#texts.get(file)) continue;
      if (text === undefined) {
        this.options.log.warn(`routes file ${file} is gone; its routes are removed`);
        this.#texts.set(file, undefined);
        this.#defs.delete(file);
        changed = true;
        continue;
      }
      const error = this.#accept(file, text);
      if (error) this.options.log.error(`error while receiving update; keeping the previous routes: ${error}`);
      else changed = true;
    }
    if (changed) this.#rebuild();
    return changed;
  }

  /** Parses a file's new text; on error remembers the text (so it is logged once) and keeps the old routes. */
  #accept(file: string, text: string): string | undefined {
    this.#texts.set(file, text);
    try {
      const defs = parse(text);
      for (const def of defs) this.#origin.set(def, file);
      this.#defs.set(file, defs);
      return undefined;
    } catch (e) {
      return describe(e, file);
    }
  }

  #rebuild(): void {
    const defs = [...this.#inline, ...this.options.files.flatMap((f) => this.#defs.get(f) ?? [])];
    const next = buildTable(defs, this.options.registries);
    const previous = this.#table;
    this.#table = next;
    for (const problem of next.problems) this.options.log.error(this.describeProblem(problem, defs));
    this.options.log.info(`route settings applied, ${next.routes.length} routes, ${next.problems.length} invalid`);
    // Filters of the replaced table may hold resources (timers, watchers); let them go.
    for (const route of previous.routes) closeFilters(route.filters);
  }

  describeProblem(problem: RouteProblem, defs: readonly RouteDef[]): string {
    const def = defs.findLast((d) => d.id === problem.id);
    const where = def ? this.#origin.get(def) : undefined;
    const at = where && problem.loc ? `${where}:${problem.loc.line}:${problem.loc.column}: ` : "";
    return `${at}failed to process route ${problem.id}: ${problem.reason}: ${problem.message}`;
  }
}

function describe(e: unknown, file: string): string {
  return e instanceof EskipError ? e.format(file) : `${file}: ${(e as Error).message}`;
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch {
    return undefined;
  }
}
