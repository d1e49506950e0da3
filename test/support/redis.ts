/**
 * @module
 * A real redis-server on a free 127.0.0.1 port, for the tests of the cluster rate limits.
 *
 * Each server runs in a temporary directory of its own with nothing persisted (`--save ''
 * --appendonly no`), so a restart comes back empty on the same port with the same options.
 * Optionally it wants a password (`--requirepass`) or speaks TLS only (`--port 0 --tls-port P`,
 * the certificate of a {@link TestPki}, no client certificates asked for). redis-cli is the
 * client of the helpers ({@link RunningRedis.cli}), with the password and TLS options the
 * server needs. Servers still running when the test process exits are killed.
 */
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { TestPki } from "./tls.ts";

export const REDIS_SERVER = process.env.REDIS_SERVER ?? "redis-server";
export const REDIS_CLI = process.env.REDIS_CLI ?? "redis-cli";

export interface RedisOptions {
  /** `--requirepass`: every client must AUTH with it */
  password?: string;
  /** TLS only, with this PKI's leaf certificate (127.0.0.1 and localhost) and CA */
  tls?: TestPki;
  /** more redis-server arguments, appended as given */
  extraArgs?: string[];
}

export interface RunningRedis {
  readonly port: number;
  /** 127.0.0.1:PORT, as a shard is named */
  readonly address: string;
  /** redis://127.0.0.1:PORT, or rediss://127.0.0.1:PORT with TLS */
  readonly url: string;
  /** the server's temporary directory (its working directory, redis.log, the TLS files); removed by asyncDispose */
  readonly dir: string;
  readonly password: string | undefined;
  /** the CA file a client verifies the server with (TLS only) */
  readonly caFile: string | undefined;
  /** the running server's pid; undefined while stopped */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Kills the server (SIGKILL: nothing is saved anyway) and waits until it is gone. Idempotent. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same options (empty) and waits until it answers PING. */
  restart(): Promise<void>;
  /** SIGSTOP: the server stops answering, yet the kernel still accepts connections for it. */
  pause(): void;
  /** SIGCONT after {@link pause}. */
  resume(): void;
  /** Runs redis-cli against the server (password and TLS options added) and returns its stdout, trailing newline trimmed. */
  cli(...args: string[]): Promise<string>;
  /** The keys matching `pattern` (SCAN, so never blocking the server), sorted. */
  keys(pattern: string): Promise<string[]>;
  /** What the server logged so far. */
  log(): string;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Every server started and not yet stopped, killed when the test process exits. */
const live = new Set<Subprocess>();
let exitHookInstalled = false;
function killOnExit(proc: Subprocess): void {
  live.add(proc);
  void proc.exited.then(() => live.delete(proc));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const p of live) p.kill("SIGKILL");
  });
}

/** A port free on 127.0.0.1 right now: bound with port 0, read, closed. */
export function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

let tlsSupport: boolean | undefined;
/**
 * Whether this redis-server was built with TLS (Debian's is: it links libssl). A build with TLS
 * refuses a certificate file that does not exist ("Failed to configure TLS"); one without it
 * never reads the file, so it starts (and is killed here) or fails on something else.
 */
export function redisHasTls(): boolean {
  if (tlsSupport === undefined) {
    const p = Bun.spawnSync(
      [REDIS_SERVER, "--port", "0", "--tls-port", String(freePort()), "--bind", "127.0.0.1", "--tls-cert-file", "/nonexistent", "--tls-key-file", "/nonexistent", "--tls-auth-clients", "no", "--save", "", "--appendonly", "no", "--logfile", ""],
      { stdout: "pipe", stderr: "pipe", timeout: 2000, killSignal: "SIGKILL" },
    );
    tlsSupport = /Failed to configure TLS|Failed to load certificate/i.test(p.stdout.toString() + p.stderr.toString());
  }
  return tlsSupport;
}

export async function startRedis(options: RedisOptions = {}): Promise<RunningRedis> {
  if (options.tls !== undefined && !redisHasTls()) {
    throw new Error(`${REDIS_SERVER} was built without TLS support (BUILD_TLS=no): a rediss:// test needs a redis-server that accepts --tls-port`);
  }
  const dir = await mkdtemp(join(tmpdir(), "sallyport-redis-"));
  const port = freePort();
  const logFile = join(dir, "redis.log");
  const args = ["--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no", "--logfile", logFile, "--daemonize", "no", "--protected-mode", "no"];
  let caFile: string | undefined;
  if (options.tls !== undefined) {
    const cert = join(dir, "server.pem");
    const key = join(dir, "server.key");
    caFile = join(dir, "ca.pem");
    await Promise.all([writeFile(cert, options.tls.cert), writeFile(key, options.tls.key, { mode: 0o600 }), writeFile(caFile, options.tls.ca)]);
    args.push("--port", "0", "--tls-port", String(port), "--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", caFile, "--tls-auth-clients", "no");
  } else {
    args.push("--port", String(port));
  }
  // The password goes in a config file read from stdin ("-"), not on the command line: ps would show it.
  const config = options.password === undefined ? "" : `requirepass ${JSON.stringify(options.password)}\n`;
  args.push(...(options.extraArgs ?? []));

  const cliBase = [REDIS_CLI, "-h", "127.0.0.1", "-p", String(port), "--no-auth-warning", "-e"];
  if (options.tls !== undefined) cliBase.push("--tls", "--cacert", caFile!);
  const cliEnv: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir };
  // REDISCLI_AUTH rather than -a: the password stays out of redis-cli's command line too.
  if (options.password !== undefined) cliEnv.REDISCLI_AUTH = options.password;

  const readLog = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");

  const cli = async (...cliArgs: string[]): Promise<string> => {
    const p = Bun.spawn([...cliBase, ...cliArgs], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: cliEnv });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (code !== 0) throw new Error(`redis-cli ${cliArgs.join(" ")} against ${port} exited with ${code}: ${(err || out).trim()}`);
    return out.endsWith("\n") ? out.slice(0, -1) : out;
  };

  let proc: Subprocess<"pipe", "ignore", "pipe"> | undefined;

  const spawn = async () => {
    const started = Bun.spawn([REDIS_SERVER, "-", ...args], { cwd: dir, stdin: "pipe", stdout: "ignore", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
    started.stdin.write(config);
    await started.stdin.end();
    killOnExit(started);
    proc = started;
    const stderr = new Response(started.stderr).text();
    // Up when it answers PING; an early exit (the port taken meanwhile, a bad option) fails at once.
    const deadline = Date.now() + 10_000;
    let last = "";
    while (Date.now() < deadline) {
      if (started.exitCode !== null || started.signalCode !== null) {
        proc = undefined;
        throw new Error(`redis-server on 127.0.0.1:${port} exited with ${started.exitCode ?? started.signalCode} before answering PING:\n${await stderr}\n${readLog()}`);
      }
      try {
        last = await cli("PING");
        if (last === "PONG") return;
      } catch (e) {
        last = String(e);
      }
      await Bun.sleep(20);
    }
    started.kill("SIGKILL");
    await started.exited;
    proc = undefined;
    throw new Error(`redis-server on 127.0.0.1:${port} did not answer PING within 10 s (last: ${last}):\n${readLog()}`);
  };

  const stop = async () => {
    const running = proc;
    if (running === undefined) return;
    proc = undefined;
    // A stopped (paused) process dies of SIGKILL all the same.
    running.kill("SIGKILL");
    await running.exited;
  };

  await spawn();

  return {
    port,
    address: `127.0.0.1:${port}`,
    url: `${options.tls !== undefined ? "rediss" : "redis"}://127.0.0.1:${port}`,
    dir,
    password: options.password,
    caFile,
    get pid() {
      return proc?.pid;
    },
    get running() {
      return proc !== undefined;
    },
    stop,
    async restart() {
      await stop();
      await spawn();
    },
    pause() {
      if (proc === undefined) throw new Error(`redis-server on 127.0.0.1:${port} is not running`);
      proc.kill("SIGSTOP");
    },
    resume() {
      if (proc === undefined) throw new Error(`redis-server on 127.0.0.1:${port} is not running`);
      proc.kill("SIGCONT");
    },
    cli,
    async keys(pattern: string) {
      const out = await cli("--scan", "--pattern", pattern);
      // SCAN may return a key twice; a set of them is what is asked.
      return [...new Set(out.split("\n").filter((k) => k !== ""))].sort();
    },
    log: readLog,
    async [Symbol.asyncDispose]() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
