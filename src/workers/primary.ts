/**
 * @module
 * `-workers N`: the primary process. It checks the traffic ports are free (binding each once,
 * exclusively, which also turns port 0 into a real one), starts N copies of this binary that bind
 * them together with SO_REUSEPORT (the kernel spreads connections over them), and restarts a
 * worker that dies. It serves `-support-listener` itself: `/readyz` is ready while every worker
 * is, `/metrics` is the workers' scrapes merged, the rest is answered by a worker's own.
 * SIGHUP and SIGUSR1 go to every worker; SIGTERM drains them all and exits 0 when they have.
 *
 * Breakers and rate limits are the primary's (src/workers/state-owner.ts): the workers ask it,
 * so limits hold for all of them together, and /metrics reads the breakers here.
 */
import type { Subprocess } from "bun";
import type { ConsolaInstance } from "consola/core";
import type { Config } from "../config/index.ts";
import { parseListenAddress } from "../config/listen-address.ts";
import { CONTENT_TYPE } from "../metrics/text.ts";
import { bindFailure, displayAddress, ListenError, serveListener, type Listener } from "../net/listener.ts";
import { nextTurn, type Clock } from "../util/clock.ts";
import type { BreakerRegistry } from "../circuit/registry.ts";
import { breakerMetrics } from "../metrics/breakers.ts";
import { HostLabels } from "../metrics/labels.ts";
import { MetricRegistry } from "../metrics/registry.ts";
import { splitTarget } from "../util/url-path.ts";
import { mergeExpositions } from "./metrics-merge.ts";
import { StateOwner } from "./state-owner.ts";
import { isStateBatch, type ToPrimary } from "./state-protocol.ts";
import { isReadyMessage, WORKER_ENV, workerFlags } from "./worker.ts";

/** A worker that died is started again after this long. */
const RESTART_DELAY_MS = 1000;
/** Beyond -shutdown-timeout, how long workers get to exit before they are killed. */
const EXIT_GRACE_MS = 5000;

export interface PrimaryOptions {
  readonly config: Config;
  readonly workers: number;
  /** the operator's command line, without the program */
  readonly args: readonly string[];
  readonly log: ConsolaInstance;
  readonly clock: Clock;
  /** resolves with the signal that asks the primary to stop */
  readonly stopSignal: Promise<string>;
}

/** The traffic ports and their flags; the support listener is the primary's own. */
const TRAFFIC_FLAGS = [
  ["-address", "address"],
  ["-forward-address", "forwardAddress"],
  ["-sni-address", "sniAddress"],
] as const;

interface Worker {
  readonly number: number;
  proc: Subprocess;
  /** its private support listener once it said it is ready */
  support: string | undefined;
}

/** Runs the primary until its workers have drained; resolves to the exit code. */
export async function runPrimary(options: PrimaryOptions): Promise<number> {
  const { config, log, clock } = options;
  let ports: Map<string, string>;
  try {
    ports = checkPorts(config);
  } catch (e) {
    if (!(e instanceof ListenError)) throw e;
    log.error(`Failed to start sallyport: ${e.message}`);
    return 1;
  }
  const argv = [...commandOf(options.args), ...workerFlags(ports)];
  const workers: Worker[] = [];
  const state = new StateOwner({ clock, breakers: config.breaker, log: (message) => log.info(message), nextTurn });
  let stopping = false;
  let restarts = 0;

  const spawn = (number: number): Worker => {
    const worker: Worker = { number, proc: undefined!, support: undefined };
    worker.proc = Bun.spawn(argv, {
      env: { ...process.env, [WORKER_ENV]: String(number) },
      stdio: ["ignore", "inherit", "inherit"],
      ipc(message) {
        if (isStateBatch<ToPrimary>(message)) state.receive(number, message);
        else if (isReadyMessage(message)) worker.support = message.support;
      },
    });
    state.attach(number, (batch) => worker.proc.send(batch));
    return worker;
  };

  // From the start: a SIGHUP must never kill the primary (Node's default), and it reaches every worker.
  const forward = (signal: NodeJS.Signals) => () => {
    log.info(`${signal}: passed on to ${workers.length} workers`);
    for (const w of workers) w.proc.kill(signal);
  };
  const onHup = forward("SIGHUP");
  const onUsr1 = forward("SIGUSR1");
  process.on("SIGHUP", onHup);
  process.on("SIGUSR1", onUsr1);

  // Start them all; one that exits before it is ready fails the start (it said why on stderr).
  for (let n = 0; n < options.workers; n++) workers.push(spawn(n));
  const allReady = await Promise.race([
    waitUntil(() => workers.every((w) => w.support !== undefined), clock).then(() => true),
    Promise.race(workers.map((w) => w.proc.exited)).then(() => false),
  ]);
  if (!allReady) {
    stopping = true;
    for (const w of workers) w.proc.kill("SIGKILL");
    await Promise.all(workers.map((w) => w.proc.exited));
    log.error("Failed to start sallyport: a worker exited during its start");
    return 1;
  }

  // A worker that dies is started again, in its place.
  const supervise = (worker: Worker) => {
    void worker.proc.exited.then(async (code) => {
      state.detach(worker.number);
      if (stopping) return;
      log.warn(`worker ${worker.number} (pid ${worker.proc.pid}) exited (${worker.proc.signalCode ?? `code ${code}`}); starting it again in ${RESTART_DELAY_MS} ms`);
      await clock.sleep(RESTART_DELAY_MS);
      if (stopping) return;
      restarts++;
      const fresh = spawn(worker.number);
      workers[worker.number] = fresh;
      supervise(fresh);
    });
  };
  workers.forEach(supervise);

  let draining = false;
  const ready = () => !draining && workers.every((w) => w.support !== undefined && w.proc.exitCode === null);
  const support = config.supportListener ? primarySupport(config, { ready, workers, restarts: () => restarts, breakers: state.breakers, clock }) : undefined;
  if (support) {
    try {
      ports.set("-support-listener", await support.start());
    } catch (e) {
      stopping = true;
      for (const w of workers) w.proc.kill("SIGKILL");
      log.error(`Failed to start sallyport: ${(e as Error).message}`);
      return 1;
    }
  }
  for (const [flag, address] of ports) log.info(flag === "-address" ? `Listen on ${address}` : `${nameOf(flag)} listener on ${address}`);
  log.info(`${options.workers} workers serving (pids ${workers.map((w) => w.proc.pid).join(", ")})`);

  const signal = await options.stopSignal;
  draining = true;
  if (config.waitForHealthcheckInterval > 0) {
    log.info(`${signal}: /readyz answers 503; the workers stop accepting in ${config.waitForHealthcheckInterval} ms`);
    await clock.sleep(config.waitForHealthcheckInterval);
  }
  stopping = true;
  log.info(`${signal}: draining ${workers.length} workers (at most ${config.shutdownTimeout} ms)`);
  for (const w of workers) w.proc.kill("SIGTERM");
  const exited = Promise.all(workers.map((w) => w.proc.exited));
  if (!(await Promise.race([exited.then(() => true), clock.sleep(config.shutdownTimeout + EXIT_GRACE_MS).then(() => false)]))) {
    log.warn("workers still running after the drain; killed");
    for (const w of workers) w.proc.kill("SIGKILL");
    await exited;
  }
  process.off("SIGHUP", onHup);
  process.off("SIGUSR1", onUsr1);
  await support?.stop(0);
  log.info("stopped");
  return 0;
}

/**
 * Binds each traffic address once, exclusively: a port another process holds fails the start
 * here, with the flag's name, and port 0 becomes the port every worker then shares.
 */
function checkPorts(config: Config): Map<string, string> {
  const ports = new Map<string, string>();
  for (const [flag, key] of TRAFFIC_FLAGS) {
    const value = config[key];
    if (!value) continue;
    const { hostname, port } = parseListenAddress(value);
    let probe;
    try {
      probe = Bun.listen({ hostname, port, exclusive: true, socket: { data() {} } });
    } catch (e) {
      throw bindFailure(flag, hostname, port, e);
    }
    ports.set(flag, displayAddress(hostname, probe.port));
    probe.stop(true);
  }
  return ports;
}

/** This binary run again with `args`: a compiled binary is its own program, a script needs bun and its path. */
function commandOf(args: readonly string[]): string[] {
  return Bun.isStandaloneExecutable ? [process.execPath, ...args] : [process.execPath, Bun.main, ...args];
}

const nameOf = (flag: string): string => flag.slice(1).replace(/-address$|-listener$/, "");

/** Resolves once `done()` holds, looking every few milliseconds. */
async function waitUntil(done: () => boolean, clock: Clock): Promise<void> {
  while (!done()) await clock.sleep(10);
}

interface PrimarySupport {
  readonly ready: () => boolean;
  readonly workers: readonly Worker[];
  readonly restarts: () => number;
  /** the breakers of all workers, which live here */
  readonly breakers: BreakerRegistry;
  readonly clock: Clock;
}

/** The primary's support listener: its own readiness, the workers' metrics merged with its own, the rest from a worker. */
function primarySupport(config: Config, { ready, workers, restarts, breakers, clock }: PrimarySupport): Listener {
  const { hostname, port } = parseListenAddress(config.supportListener);
  const own = new MetricRegistry();
  own.collect("sallyport_workers", "Worker processes serving the ports.", "gauge", [], (emit) => emit([], workers.length));
  own.collect("sallyport_worker_restarts_total", "Workers started again after they died.", "counter", [], (emit) => emit([], restarts()));
  breakerMetrics(own, new HostLabels(config.metricsMaxHosts), breakers);
  const fromWorker = (req: Request, path: string) => {
    const worker = workers.find((w) => w.support !== undefined && w.proc.exitCode === null);
    if (!worker) return new Response("no worker is serving\n", { status: 503 });
    return fetch(`http://${worker.support}${path}`, { method: req.method, proxy: false } as RequestInit);
  };
  return serveListener({
    name: "support",
    flag: "-support-listener",
    hostname,
    port,
    wait: (ms) => clock.sleep(ms),
    serve: {
      async fetch(req) {
        const { path } = splitTarget(req.url);
        if (path === "/healthz") return new Response("ok\n");
        if (path === "/readyz") return ready() ? new Response("ready\n") : new Response("draining\n", { status: 503 });
        if (path !== "/metrics") return fromWorker(req, path);
        const texts = await Promise.all(
          workers.filter((w) => w.support !== undefined && w.proc.exitCode === null).map((w) => fetch(`http://${w.support}/metrics`, { proxy: false } as RequestInit).then((r) => r.text(), () => "")),
        );
        return new Response(req.method === "HEAD" ? null : mergeExpositions(texts) + own.render(), { headers: { "content-type": CONTENT_TYPE } });
      },
    },
  });
}
