/**
 * @module
 * Spawning the compiled binary as the end-to-end tests drive it.
 *
 * Which binary: `SALLYPORT_BIN` if set, used as is (never rebuilt, and refused if missing);
 * otherwise build.ts's output, `SALLYPORT_OUTFILE` or dist/sallyport, rebuilt before the first
 * spawn whenever it is missing or older than any build input (src/, package.json, build.ts),
 * so a bare `bun test` never runs the end-to-end tests against a stale build.
 */
import { onTestFinished } from "bun:test";
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
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

/**
 * Secret values that must never reach a proxy's output, beyond the files its `-credentials-paths`
 * name (read when it starts and when it stops): what a helper wrote and the files no longer hold,
 * such as an earlier version of a rotated secret (./k8s-secret.ts).
 */
const rememberedSecrets = new Set<string>();

/** Shorter pieces of a value are not checked: they turn up in ordinary text (`v1`, `token`). */
const SECRET_MIN_LENGTH = 6;

/**
 * Registers the value of a secret file a test wrote: no proxy's stdout, stderr or access log may
 * contain it. Read as the proxy reads it (one trailing newline trimmed); a value with control
 * characters (which the proxy refuses) is checked piece by piece.
 */
export function rememberSecret(content: string): void {
  for (const piece of secretPieces(content)) rememberedSecrets.add(piece);
}

function secretPieces(content: string): string[] {
  const value = content.endsWith("\n") ? content.slice(0, -1) : content;
  return value.split(/[\x00-\x1f\x7f]+/).filter((piece) => piece.length >= SECRET_MIN_LENGTH);
}

/** Every value of a flag in `args` (`-name v`, `-name=v`, `--name …`), comma lists split. */
function flagValues(args: readonly string[], name: string): string[] {
  const values: string[] = [];
  args.forEach((arg, i) => {
    const m = /^--?([^=]+)(?:=(.*))?$/.exec(arg);
    if (m?.[1] !== name) return;
    const value = m[2] ?? args[i + 1];
    if (value !== undefined) values.push(value);
  });
  return values;
}

const credentialsPaths = (args: readonly string[]) => flagValues(args, "credentials-paths").flatMap((list) => list.split(",")).filter(Boolean);

/**
 * The secret files `-credentials-paths` names as the proxy sees them: a file as given, a
 * directory's direct children that are files (symlinks followed, as the kubelet lays them out).
 */
function credentialFiles(args: readonly string[]): string[] {
  const files: string[] = [];
  // A path the proxy will refuse (missing, a symlink loop) is the test's point, not an error here.
  const stat = (path: string) => {
    try {
      return statSync(path, { throwIfNoEntry: false });
    } catch {
      return undefined;
    }
  };
  for (const path of credentialsPaths(args)) {
    const found = stat(path);
    if (found?.isFile()) files.push(path);
    else if (found?.isDirectory()) for (const name of readdirSync(path)) if (stat(join(path, name))?.isFile()) files.push(join(path, name));
  }
  return files;
}

/** The private keys the proxy is given (its TLS listeners', the interception CA's): not a line of one may reach its output. */
const privateKeyFiles = (args: readonly string[]) => ["tls-key", "intercept-ca-key"].flatMap((name) => flagValues(args, name)).filter(Boolean);

/** What the files hold now, added to `into`; a file that cannot be read (a test locked it) is skipped. */
function readSecrets(files: readonly string[], into: Set<string>): void {
  for (const file of files) {
    try {
      for (const piece of secretPieces(readFileSync(file, "utf8"))) into.add(piece);
    } catch {
      // unreadable now: it was read at the other end of the run, or the proxy could not read it either
    }
  }
}

/** The access log file and what logrotate (or a test) renamed it to, `FILE.1` and so on. */
function accessLogLines(args: readonly string[]): string[] {
  const lines: string[] = [];
  for (const file of flagValues(args, "access-log").filter(Boolean)) {
    const dir = dirname(file);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      if (name !== basename(file) && !name.startsWith(`${basename(file)}.`)) continue;
      try {
        lines.push(...readFileSync(join(dir, name), "utf8").split("\n").filter(Boolean));
      } catch {
        // gone or not a file
      }
    }
  }
  return lines;
}

/**
 * The lines of a proxy's output that hold a credential ({@link CREDENTIAL}) or a secret's value.
 * Paths are cut out first: a secret may be named like its value (`/run/secrets/mytoken` holding
 * `mytoken`), and the log names the files it reads.
 */
function leakedLines(lines: readonly string[], secrets: ReadonlySet<string>, paths: readonly string[] = []): string[] {
  const longestFirst = [...paths].sort((a, b) => b.length - a.length);
  return lines.filter((line) => {
    if (CREDENTIAL.test(line)) return true;
    const cut = longestFirst.reduce((text, path) => text.replaceAll(path, "PATH"), line);
    for (const secret of secrets) if (cut.includes(secret)) return true;
    return false;
  });
}

/**
 * For a test that watches one process: its fds, its DNS cache, its pool of upstream connections,
 * the moment its reload is logged. Without it the binary serves with one worker per core, and
 * the kernel spreads the test's connections over them.
 */
export const ONE_PROCESS: readonly string[] = ["-workers", "1"];

/** What the support listener shows anyone who asks: /metrics and /routes, as lines; nothing when it is off or gone. */
async function supportPages(supportUrl: string): Promise<string[]> {
  const page = (path: string) =>
    fetch(supportUrl + path, { signal: AbortSignal.timeout(2000) }).then(
      (r) => r.text(),
      () => "",
    );
  const pages = await Promise.all([page("/metrics"), page("/routes")]);
  return pages.flatMap((text) => text.split("\n"));
}

/** Starts the binary on free loopback ports and waits until both listeners are up. */
export async function startProxy(args: string[], options: { cwd?: string } = {}): Promise<RunningProxy> {
  await ensureBinary();
  const secretFiles = [...credentialFiles(args), ...privateKeyFiles(args)];
  const secrets = new Set<string>();
  readSecrets(secretFiles, secrets);
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
    // A last line without its newline (a crash mid-write) is output too.
    if (buffered !== "") logs.push(buffered);
  };
  const pumped = Promise.all([pump(proc.stderr), pump(proc.stdout)]).catch(() => {});

  // Whatever a test sent or injected, no credential and no secret's value may reach the proxy's
  // output: stdout, stderr, the access log file, and /metrics and /routes as stop() finds them.
  // Checked by stop(), or, for a proxy a test ends otherwise (SIGKILL, a signal it exits on),
  // when the test that started it finishes.
  let checked = false;
  const pages: string[] = [];
  /** `final`: the process is gone, so its whole output is checked (once); otherwise what it wrote so far. */
  const checkOutput = async (final = true) => {
    if (final) {
      checked = true;
      // Once the process is gone its pipes end; the last lines may still be on the way.
      await Promise.race([pumped, Bun.sleep(2000)]);
    }
    readSecrets(secretFiles, secrets);
    for (const secret of rememberedSecrets) secrets.add(secret);
    const paths = [...secretFiles, ...credentialsPaths(args)];
    const leaked = leakedLines([...logs, ...accessLogLines(args), ...pages], secrets, paths);
    if (leaked.length > 0) throw new Error(`credentials or secret values in the proxy's output:\n${leaked.join("\n")}`);
  };
  // Signals the test sends itself, SIGKILL above all, end a proxy without stop().
  let signalled = false;
  const kill = proc.kill.bind(proc);
  proc.kill = (signal) => {
    signalled = true;
    kill(signal);
  };
  try {
    // When the test that started it ends, a proxy it signalled (killed, or SIGTERMed without
    // stop()) is checked whole, once it has exited; one still running, for what it wrote so far.
    // In a beforeAll hook this runs when the hook ends, and stop() checks the rest later.
    onTestFinished(async () => {
      if (checked) return;
      if (signalled || proc.exitCode !== null || proc.signalCode !== null) await Promise.race([proc.exited, Bun.sleep(2000)]);
      await checkOutput(proc.exitCode !== null || proc.signalCode !== null);
    });
  } catch {
    // not called from a test or hook: stop() alone checks
  }

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
  // `… on 127.0.0.1:PORT` or `… on [::1]:PORT`, in a text line or a JSON one.
  const portOf = (line: string) => Number(/ on (?:\[[^\]]*\]|[^\s:"\\]+):(\d+)/.exec(line)![1]);
  const port = portOf(listen);
  const supportPort = portOf(support);
  const forwardPort = args.includes("-forward-address") ? portOf(await waitForLog(/forward listener on /)) : undefined;
  const stop = async () => {
    if (proc.exitCode === null) pages.push(...(await supportPages(`http://127.0.0.1:${supportPort}`)));
    proc.kill("SIGTERM");
    const code = await proc.exited;
    await checkOutput();
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
