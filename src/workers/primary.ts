/**
 * @module
 * `-workers N`: the primary process. It checks the traffic ports are free (binding each once,
 * exclusively, which also turns port 0 into a real one), serves them itself as worker 0 and
 * starts N-1 copies of this binary beside it, all bound with SO_REUSEPORT (the kernel spreads
 * connections over them). Serving itself keeps the start as quick as one process's: the first
 * answer does not wait for a second exec. It restarts a worker that dies and serves
 * `-support-listener`: `/readyz` is ready while every worker is, `/metrics` is every worker's
 * scrape merged (its own included), the rest is answered by its own app. SIGHUP and SIGUSR1 reach
 * every worker; on SIGTERM all drain together.
 *
 * Breakers and rate limits are the primary's (src/workers/state-owner.ts): its own requests use
 * them directly, the other workers ask over IPC, so limits hold for all of them together.
 *
 * ```ts
 * const plan = planFleet({ config, workers, args, log, clock }); // throws ListenError
 * sharePorts();
 * const app = await startSallyport(plan.config, log, clock, plan.shared);
 * const fleet = await plan.start({ support: app.addresses.get("support")!, ready: () => app.ready });
 * // on SIGTERM
 * await Promise.all([app.stop(grace), fleet.stop(grace)]);
 * await fleet.close();
 * ```
 */
import type { Subprocess } from "bun";
import type { ConsolaInstance } from "consola/core";
import type { BreakerRegistry } from "../circuit/registry.ts";
import type { Config } from "../config/index.ts";
import { parseListenAddress } from "../config/listen-address.ts";
import { breakerMetrics } from "../metrics/breakers.ts";
import { HostLabels } from "../metrics/labels.ts";
import { MetricRegistry } from "../metrics/registry.ts";
import { CONTENT_TYPE } from "../metrics/text.ts";
import { bindFailure, displayAddress, serveListener, type Listener } from "../net/listener.ts";
import type { LimiterFactory } from "../ratelimit/limiter.ts";
import { nextTurn, type Clock } from "../util/clock.ts";
import { splitTarget } from "../util/url-path.ts";
import { mergeExpositions } from "./metrics-merge.ts";
import { StateOwner } from "./state-owner.ts";
import { isStateBatch, type ToPrimary } from "./state-protocol.ts";
import { isReadyMessage, PRIVATE_SUPPORT, WORKER_ENV, workerFlags } from "./worker.ts";

/** A worker that died is started again after this long. */
const RESTART_DELAY_MS = 1000;
/** Beyond -shutdown-timeout, how long workers get to exit before they are killed. */
const EXIT_GRACE_MS = 5000;

export interface FleetOptions {
  readonly config: Config;
  /** all of them, this process included */
  readonly workers: number;
  /** the operator's command line, without the program */
  readonly args: readonly string[];
  readonly log: ConsolaInstance;
  readonly clock: Clock;
}

/** What the primary serves with as worker 0, and how it starts the rest. */
export interface FleetPlan {
  /** the operator's config with the checked ports and a private support listener */
  readonly config: Config;
  /** every worker's breakers and rate limits, for this process's app */
  readonly shared: { readonly limiters: LimiterFactory; readonly breakers: BreakerRegistry };
  /** Starts the other workers once this process serves; rejects, with none left running, when one died during its start (it said why on stderr) or the support listener could not bind. */
  start(self: SelfWorker): Promise<Fleet>;
}

/** The primary's own app, as the fleet sees it. */
export interface SelfWorker {
  /** its private support listener */
  readonly support: string;
  readonly ready: () => boolean;
}

export interface Fleet {
  /** `/readyz` answers 503 from now on */
  startDraining(): void;
  /** SIGTERM to the other workers; resolves once they exited (killed `EXIT_GRACE_MS` after `graceMs`). */
  stop(graceMs: number): Promise<void>;
  /** Closes the support listener: last, once this process's own app has drained too, so /readyz says 503 until then. */
  close(): Promise<void>;
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

/** One process serving, for readiness and /metrics. */
interface Member {
  readonly support: string | undefined;
  /** running, its support listener known: it has metrics */
  readonly alive: boolean;
  /** serving and not draining */
  readonly ready: boolean;
}

/** Checks the ports (throws ListenError naming the flag) and makes the state every worker shares. */
export function planFleet(options: FleetOptions): FleetPlan {
  const { config, log, clock } = options;
  const ports = checkPorts(config);
  const state = new StateOwner({ clock, breakers: config.breaker, log: (message) => log.info(message), nextTurn });
  const own: Partial<Config> = { supportListener: PRIVATE_SUPPORT };
  for (const [flag, key] of TRAFFIC_FLAGS) if (ports.has(flag)) own[key] = ports.get(flag);
  return {
    config: { ...config, ...own },
    shared: { limiters: state.limiters, breakers: state.breakers },
    start: (self) => startFleet(options, ports, state, self),
  };
}

async function startFleet(options: FleetOptions, ports: Map<string, string>, state: StateOwner, self: SelfWorker): Promise<Fleet> {
  const { config, log, clock } = options;
  const argv = [...commandOf(options.args), ...workerFlags(ports)];
  const workers: Worker[] = [];
  let stopping = false;
  let draining = false;
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
    log.info(`${signal}: passed on to ${workers.length === 1 ? "the other worker" : `the ${workers.length} other workers`}`);
    for (const w of workers) w.proc.kill(signal);
  };
  const onHup = forward("SIGHUP");
  const onUsr1 = forward("SIGUSR1");
  process.on("SIGHUP", onHup);
  process.on("SIGUSR1", onUsr1);

  // Worker 0 is this process; one of the others that exits before it is ready fails the start.
  for (let n = 1; n < options.workers; n++) workers.push(spawn(n));
  /** A start that failed: no worker is started again, none is left running, no signal handler stays. */
  const abandon = async (why: Error): Promise<never> => {
    stopping = true;
    for (const w of workers) w.proc.kill("SIGKILL");
    await Promise.all(workers.map((w) => w.proc.exited));
    process.off("SIGHUP", onHup);
    process.off("SIGUSR1", onUsr1);
    throw why;
  };
  const allReady = await Promise.race([
    waitUntil(() => workers.every((w) => w.support !== undefined), clock).then(() => true),
    Promise.race(workers.map((w) => w.proc.exited)).then(() => false),
  ]);
  if (!allReady) await abandon(new Error("a worker exited during its start"));

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
      workers[worker.number - 1] = fresh;
      supervise(fresh);
    });
  };
  workers.forEach(supervise);

  const members = (): Member[] => [
    { support: self.support, alive: true, ready: self.ready() },
    ...workers.map((w) => {
      const alive = w.support !== undefined && w.proc.exitCode === null;
      return { support: w.support, alive, ready: alive };
    }),
  ];
  const ready = () => !draining && members().every((m) => m.ready);
  const support = config.supportListener ? primarySupport(config, { ready, members, self, restarts: () => restarts, breakers: state.breakers, clock }) : undefined;
  if (support) {
    try {
      ports.set("-support-listener", await support.start());
    } catch (e) {
      await abandon(e as Error);
    }
  }
  for (const [flag, address] of ports) log.info(flag === "-address" ? `Listen on ${address}` : `${nameOf(flag)} listener on ${address}`);
  log.info(`${options.workers} workers serving (pids ${[process.pid, ...workers.map((w) => w.proc.pid)].join(", ")})`);

  return {
    startDraining() {
      draining = true;
    },
    async stop(graceMs) {
      draining = stopping = true;
      for (const w of workers) w.proc.kill("SIGTERM");
      const exited = Promise.all(workers.map((w) => w.proc.exited));
      if (!(await Promise.race([exited.then(() => true), clock.sleep(graceMs + EXIT_GRACE_MS).then(() => false)]))) {
        log.warn("workers still running after the drain; killed");
        for (const w of workers) w.proc.kill("SIGKILL");
        await exited;
      }
      process.off("SIGHUP", onHup);
      process.off("SIGUSR1", onUsr1);
    },
    async close() {
      await support?.stop(0);
    },
  };
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
  readonly members: () => Member[];
  readonly self: SelfWorker;
  readonly restarts: () => number;
  /** the breakers of all workers, which live here */
  readonly breakers: BreakerRegistry;
  readonly clock: Clock;
}

/** The primary's support listener: its readiness, every worker's metrics merged with its own, the rest from its own app. */
function primarySupport(config: Config, { ready, members, self, restarts, breakers, clock }: PrimarySupport): Listener {
  const { hostname, port } = parseListenAddress(config.supportListener);
  const own = new MetricRegistry();
  own.collect("sallyport_workers", "Worker processes serving the ports.", "gauge", [], (emit) => emit([], members().length));
  own.collect("sallyport_worker_restarts_total", "Workers started again after they died.", "counter", [], (emit) => emit([], restarts()));
  breakerMetrics(own, new HostLabels(config.metricsMaxHosts), breakers);
  return serveListener({
    name: "support",
    flag: "-support-listener",
    hostname,
    port,
    private: true,
    wait: (ms) => clock.sleep(ms),
    serve: {
      async fetch(req) {
        const { path } = splitTarget(req.url);
        if (path === "/healthz") return new Response("ok\n");
        if (path === "/readyz") return ready() ? new Response("ready\n") : new Response("draining\n", { status: 503 });
        if (path !== "/metrics") return fetch(`http://${self.support}${path}`, { method: req.method, proxy: false } as RequestInit);
        const alive = members().filter((m) => m.alive);
        const texts = await Promise.all(alive.map((m) => fetch(`http://${m.support}/metrics`, { proxy: false } as RequestInit).then((r) => r.text(), () => "")));
        return new Response(req.method === "HEAD" ? null : mergeExpositions(texts) + own.render(), { headers: { "content-type": CONTENT_TYPE } });
      },
    },
  });
}
