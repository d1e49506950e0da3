/**
 * @module
 * Spawning the compiled binary as the end-to-end tests drive it.
 *
 * Which binary: `SALLYPORT_BIN` if set, used as is (never rebuilt, and refused if missing);
 * otherwise build.ts's output, `SALLYPORT_OUTFILE` or dist/sallyport, rebuilt before the first
 * spawn whenever it is missing or older than any build input (src/, package.json, build.ts),
 * so a bare `bun test` never runs the end-to-end tests against a stale build.
 */
import { existsSync, readdirSync, renameSync, rmSync, statSync, utimesSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";

export const ROOT = join(import.meta.dir, "../..");

const EXPLICIT_BINARY = process.env.SALLYPORT_BIN;
/** build.ts resolves SALLYPORT_OUTFILE against its cwd, which is ROOT here. */
export const BINARY = EXPLICIT_BINARY ?? resolve(ROOT, process.env.SALLYPORT_OUTFILE ?? "dist/sallyport");

/** What build.ts reads: a change to any of these makes a built binary out of date. */
export const BUILD_INPUTS: readonly string[] = ["src", "package.json", "build.ts"].map((p) => join(ROOT, p));

/** Whether a binary (its mtime, or undefined when there is none) predates any of its sources. */
export function isStale(binaryMtimeMs: number | undefined, sourceMtimesMs: Iterable<number>): boolean {
  if (binaryMtimeMs === undefined) return true;
  for (const mtime of sourceMtimesMs) if (mtime > binaryMtimeMs) return true;
  return false;
}

/** The mtimes of `paths` and, for directories, of every file below them; missing paths are skipped. */
export function mtimesOf(paths: readonly string[]): number[] {
  const mtimes: number[] = [];
  for (const path of paths) {
    const stat = statSync(path, { throwIfNoEntry: false });
    if (stat === undefined) continue;
    if (!stat.isDirectory()) {
      mtimes.push(stat.mtimeMs);
      continue;
    }
    for (const entry of readdirSync(path, { withFileTypes: true, recursive: true })) {
      if (entry.isFile()) mtimes.push(statSync(join(entry.parentPath, entry.name)).mtimeMs);
    }
  }
  return mtimes;
}

let ready: Promise<void> | undefined;

/** Makes sure BINARY exists and is current; the check (one stat walk) runs once per test process. */
export function ensureBinary(): Promise<void> {
  ready ??= (async () => {
    if (EXPLICIT_BINARY !== undefined) {
      if (!existsSync(BINARY)) throw new Error(`SALLYPORT_BIN=${BINARY} does not exist (it is never built for you; unset SALLYPORT_BIN to build from src/)`);
      return;
    }
    const binaryMtime = statSync(BINARY, { throwIfNoEntry: false })?.mtimeMs;
    if (isStale(binaryMtime, mtimesOf(BUILD_INPUTS))) await build(BINARY);
  })();
  return ready;
}

/**
 * Builds into a temporary file and renames it over `outfile`: others may be running the old
 * binary, or building the same path, at the same time, and a rename swaps the file atomically
 * where writing in place could fail (ETXTBSY) or leave a half-written executable to spawn.
 */
async function build(outfile: string): Promise<void> {
  const tmp = `${outfile}.${process.pid}.tmp`;
  // Stamped with the start time, so a source saved while the build runs still counts as newer.
  const started = new Date();
  const p = Bun.spawn([process.execPath, "run", join(ROOT, "build.ts")], {
    cwd: ROOT,
    env: { ...process.env, SALLYPORT_OUTFILE: tmp },
    stdout: "inherit",
    stderr: "inherit",
  });
  const code = await p.exited;
  if (code !== 0 || !existsSync(tmp)) {
    for (const leftover of [tmp, `${tmp}.map`]) rmSync(leftover, { force: true });
    throw new Error(`building ${outfile} failed (build.ts exited with ${code})`);
  }
  utimesSync(tmp, started, started);
  // --sourcemap also writes <outfile>.map; move it first, so the binary never appears without it.
  if (existsSync(`${tmp}.map`)) renameSync(`${tmp}.map`, `${outfile}.map`);
  renameSync(tmp, outfile);
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
  /** the forward port (http://127.0.0.1:PORT, for http_proxy/https_proxy), when args name -forward-address */
  readonly forwardUrl: string | undefined;
  readonly forwardPort: number | undefined;
  /** every stderr line so far */
  readonly logs: string[];
  /** resolves with the first log line matching, waiting for it if needed */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  stop(): Promise<number>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * What a credential looks like in a line: an Authorization scheme with its token, or the header
 * names themselves. Every end-to-end test's proxy is checked for these when it stops.
 */
export const CREDENTIAL = /\bbearer\s+[A-Za-z0-9._~+/-]{4,}=*(?=[\s"',;\\]|$)|\bbasic\s+[A-Za-z0-9+/]{6,}={0,2}(?=[\s"',;\\]|$)|\b(?:proxy-)?authorization\s*[:=]/i;

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
  const forwardPort = args.includes("-forward-address") ? Number(/:(\d+)"?$/.exec(await waitForLog(/forward listener on /))![1]) : undefined;
  const stop = async () => {
    proc.kill("SIGTERM");
    const code = await proc.exited;
    // Whatever a test sent or injected, no credential may reach a log line (application or access log).
    const leaked = logs.filter((line) => CREDENTIAL.test(line));
    if (leaked.length > 0) throw new Error(`credentials in the proxy's log:\n${leaked.join("\n")}`);
    return code;
  };
  return {
    proc,
    url: `http://127.0.0.1:${port}`,
    port,
    supportUrl: `http://127.0.0.1:${supportPort}`,
    forwardUrl: forwardPort === undefined ? undefined : `http://127.0.0.1:${forwardPort}`,
    forwardPort,
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
