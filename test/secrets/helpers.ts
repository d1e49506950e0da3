/** @module A secrets store on real temp files, fake timers and a captured log. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../src/log/index.ts";
import { SecretStore, type SecretStoreOptions } from "../../src/secrets/index.ts";
import { FakeClock } from "../support/clock.ts";

export const INTERVAL = 10_000;

/** The application log as `level message` lines, in the format the binary writes them. */
export function capturedLog() {
  const lines: string[] = [];
  const log = createLogger("debug", {
    write(line) {
      const level = /level=(\w+)/.exec(line)![1];
      const msg = JSON.parse(/msg=(".*")$/.exec(line.trimEnd())![1]!) as string;
      lines.push(`${level} ${msg}`);
    },
  });
  return {
    log,
    lines,
    /** the lines logged since the last call */
    take(): string[] {
      return lines.splice(0);
    },
  };
}

/** A fresh directory, removed at the end of the `await using` scope. */
export async function tempDir(prefix = "sallyport-secrets-"): Promise<{ path: string } & AsyncDisposable> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }) };
}

/** Opens and starts a store with fake timers; file-system events are off unless asked for. */
export async function openStore(paths: string[], options: Partial<SecretStoreOptions> = {}) {
  const timers = new FakeClock(false, 0);
  const logs = capturedLog();
  const store = await SecretStore.open({ paths, intervalMs: INTERVAL, log: logs.log, clock: timers, watch: false, ...options });
  store.start();
  return {
    store,
    timers,
    logs,
    value: (name: string) => {
      const found = store.lookup(name);
      return found.ok ? found.value : found.problem;
    },
    [Symbol.dispose]: () => store.stop(),
  };
}
