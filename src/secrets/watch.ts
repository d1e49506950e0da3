/**
 * @module
 * File-system events on the secret directories, so a rotated secret is picked up at once rather
 * than at the next tick (Skipper only polls). Best effort by design: a directory that cannot be
 * watched, or whose watch dies (deleted, recreated), is tried again after the next refresh, and
 * the interval tick still catches anything the events miss.
 */
import { watch, type FSWatcher } from "node:fs";
import type { ConsolaInstance } from "consola/core";

export class DirectoryWatcher {
  readonly #watchers = new Map<string, FSWatcher>();
  #closed = false;

  constructor(
    readonly directories: readonly string[],
    readonly onEvent: () => void,
    readonly log: ConsolaInstance,
  ) {}

  /** Watches every directory not watched yet. */
  ensure(): void {
    if (this.#closed) return;
    for (const dir of this.directories) {
      if (this.#watchers.has(dir)) continue;
      try {
        // Not persistent: watching must never be what keeps the process alive.
        const watcher = watch(dir, { persistent: false }, () => this.onEvent());
        watcher.on("error", (e) => {
          this.log.debug(`Stopped watching secrets directory ${dir}: ${(e as Error).message}`);
          this.#drop(dir);
        });
        this.#watchers.set(dir, watcher);
      } catch (e) {
        this.log.debug(`Cannot watch secrets directory ${dir}: ${(e as Error).message}`);
      }
    }
  }

  close(): void {
    this.#closed = true;
    for (const dir of [...this.#watchers.keys()]) this.#drop(dir);
  }

  #drop(dir: string): void {
    this.#watchers.get(dir)?.close();
    this.#watchers.delete(dir);
  }
}
