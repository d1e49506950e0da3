/**
 * @module
 * A small text file sallyport reads at start and re-reads every `pollMs` on the clock: the
 * egress allow and deny lists, the forward port's htpasswd file. What the owner does with the
 * text (parse it, refuse it) is its business; this module only reads, compares and reports.
 *
 * - At start an unreadable file is fatal: {@link WatchedFile.open} rejects with an Error naming
 *   the file and the errno code. A bad start should stop the process, not run without its list.
 * - Later, `onChange` is called only when the text differs from the last text read, so an owner
 *   that refuses a text (a bad line) hears of it, and logs it, once.
 * - A read that fails later (gone, EACCES, a directory or FIFO in its place) keeps the last text:
 *   a file that cannot be read right now says nothing about who may pass. Each kind of failure
 *   is logged once (warn) until a read succeeds again.
 *
 * Polls never overlap: the next one is scheduled when the current one (and its `onChange`) ended.
 *
 * ```ts
 * const file = await WatchedFile.open({ path, pollMs: 3_000, clock, log, onChange: (text) => apply(text) });
 * apply(file.text);
 * file.start(); // … file.stop() on shutdown
 * ```
 */
import type { ConsolaInstance } from "consola/core";
import { systemClock, type Clock, type Timer } from "./clock.ts";
import { errorCode, readTextFile } from "./read-file.ts";

export interface WatchedFileOptions {
  readonly path: string;
  /** ms between the end of one read and the next */
  readonly pollMs: number;
  /** called with the new text when a re-read found it changed; a returned promise is awaited */
  readonly onChange: (text: string) => void | Promise<void>;
  readonly log: ConsolaInstance;
  /** what the file is, for messages: `egress allow list` (default `file`) */
  readonly label?: string;
  /** the real clock by default; tests pass a fake one */
  readonly clock?: Clock;
  /**
   * Reads the text instead of reading `path` alone: for files that change together (a
   * certificate and its key), read as one text so a poll never applies half of a rotation.
   */
  readonly read?: () => Promise<string>;
}

const readText = (options: WatchedFileOptions): Promise<string> => (options.read ? options.read() : readTextFile(options.path));

export class WatchedFile {
  #text: string;
  #timer: Timer | undefined;
  /** the code the last read failed with; undefined while reads succeed */
  #failing: string | undefined;
  readonly #clock: Clock;

  private constructor(
    readonly options: WatchedFileOptions,
    text: string,
  ) {
    this.#text = text;
    this.#clock = options.clock ?? systemClock;
  }

  /** Reads the file once; rejects with `<label> <path>: cannot read: <code>` when it cannot. */
  static async open(options: WatchedFileOptions): Promise<WatchedFile> {
    try {
      return new WatchedFile(options, await readText(options));
    } catch (e) {
      throw new Error(`${options.label ?? "file"} ${options.path}: cannot read: ${errorCode(e)}`);
    }
  }

  /** the text last read */
  get text(): string {
    return this.#text;
  }

  /** Re-reads every `pollMs` after the previous read ended. */
  start(): void {
    if (!this.#timer) this.#schedule();
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  #schedule(): void {
    const timer = this.#clock.setTimeout(async () => {
      await this.#poll();
      // stop() (and a start() after it) ends this chain: only the current timer goes on.
      if (this.#timer === timer) this.#schedule();
    }, this.options.pollMs);
    this.#timer = timer;
  }

  /** Reads the file now, as a poll does (SIGHUP); a change is applied, a failure logged. */
  reread(): Promise<void> {
    return this.#poll();
  }

  async #poll(): Promise<void> {
    const { path, log, label = "file" } = this.options;
    let text: string;
    try {
      text = await readText(this.options);
    } catch (e) {
      const code = errorCode(e);
      if (this.#failing !== code) log.warn(`cannot read ${label} ${path}: ${code}; keeping its previous content`);
      this.#failing = code;
      return;
    }
    if (this.#failing !== undefined) log.info(`${label} ${path} is readable again`);
    this.#failing = undefined;
    if (text === this.#text) return;
    this.#text = text;
    try {
      await this.options.onChange(text);
    } catch (e) {
      log.error(`error while applying ${label} ${path}: ${(e as Error)?.message ?? e}`);
    }
  }
}
