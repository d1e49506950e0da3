/**
 * @module
 * Spawning the compiled binary, dist/sallyport, as the end-to-end tests drive it. `npm test`
 * builds it first; a bare `bun test` builds it once here if it is missing.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";

export const ROOT = join(import.meta.dir, "../..");
export const BINARY = process.env.SALLYPORT_BIN ?? join(ROOT, "dist/sallyport");

let built: Promise<void> | undefined;

export function ensureBinary(): Promise<void> {
  built ??= (async () => {
    if (existsSync(BINARY)) return;
    const p = Bun.spawn([process.execPath, "run", join(ROOT, "build.ts")], { cwd: ROOT, stdout: "inherit", stderr: "inherit" });
    if ((await p.exited) !== 0) throw new Error("build failed");
  })();
  return built;
}

/** A child environment with no proxy settings of the host leaking in. */
export const childEnv = (): Record<string, string> => {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", NO_COLOR: "1", TZ: "Etc/UTC" };
  return env;
};

export interface RunningProxy {
  readonly proc: Subprocess<"ignore", "pipe", "pipe">;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  readonly supportUrl: string;
  /** every stderr line so far */
  readonly logs: string[];
  /** resolves with the first log line matching, waiting for it if needed */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  stop(): Promise<number>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts the binary on free loopback ports and waits until both listeners are up. */
export async function startProxy(args: string[], options: { cwd?: string } = {}): Promise<RunningProxy> {
  await ensureBinary();
  const proc = Bun.spawn([BINARY, "-address", "127.0.0.1:0", "-support-listener", "127.0.0.1:0", ...args], {
    cwd: options.cwd ?? ROOT,
    env: childEnv(),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const logs: string[] = [];
  const waiters: { pattern: RegExp; resolve(line: string): void }[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let buffered = "";
    const decoder = new TextDecoder();
    for await (const bytes of stream) {
      buffered += decoder.decode(bytes, { stream: true });
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        logs.push(line);
        for (const w of [...waiters]) {
          if (w.pattern.test(line)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    }
  };
  void pump(proc.stderr);
  void pump(proc.stdout);

  const waitForLog = (pattern: RegExp, timeoutMs = 10_000) => {
    const seen = logs.find((l) => pattern.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no log line matching ${pattern} within ${timeoutMs} ms; logs:\n${logs.join("\n")}`)), timeoutMs);
      waiters.push({ pattern, resolve: (l) => (clearTimeout(timer), resolve(l)) });
      proc.exited.then((code) => reject(new Error(`sallyport exited with ${code} before logging ${pattern}; logs:\n${logs.join("\n")}`)));
    });
  };

  const listen = await waitForLog(/Listen on /);
  const support = await waitForLog(/support listener on /);
  const port = Number(/:(\d+)"?$/.exec(listen)![1]);
  const supportPort = Number(/:(\d+)"?$/.exec(support)![1]);
  const stop = async () => {
    proc.kill("SIGTERM");
    return proc.exited;
  };
  return {
    proc,
    url: `http://127.0.0.1:${port}`,
    port,
    supportUrl: `http://127.0.0.1:${supportPort}`,
    logs,
    waitForLog,
    stop,
    async [Symbol.asyncDispose]() {
      await stop();
    },
  };
}

/** Runs the binary to completion (for CLI tests). */
export async function runBinary(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  await ensureBinary();
  const proc = Bun.spawn([BINARY, ...args], { env: childEnv(), stdin: input === undefined ? "ignore" : new Blob([input]), stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}
