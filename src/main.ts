/**
 * sallyport: an egress proxy. Entry point: flags → config → listeners; SIGTERM/SIGINT drain,
 * SIGHUP re-reads every file the proxy serves from, SIGUSR1 reopens the access log.
 */
import { startSallyport, StartupError, type Sallyport, type SharedState } from "./app.ts";
import { runCheckCommand } from "./cli/check.ts";
import { runExplain, runTestPolicy } from "./cli/explain.ts";
import { runEskipParse } from "./cli/eskip-parse.ts";
import { EXIT_USAGE, runCli, startupWarnings } from "./cli/index.ts";
import type { Config } from "./config/index.ts";
import { log, LOG_LEVELS, setLogFormat } from "./log/index.ts";
import { RouteSourceError } from "./routing/source.ts";
import { CredentialsPathError } from "./secrets/index.ts";
import { runCaInit } from "./tls/ca-init.ts";
import { nextTurn, systemClock } from "./util/clock.ts";
import { planFleet, type Fleet, type FleetPlan } from "./workers/primary.ts";
import { BreakerRegistry } from "./circuit/registry.ts";
import { ListenError, sharePorts } from "./net/listener.ts";
import { availableCores } from "./workers/cores.ts";
import { workerNumber } from "./workers/worker.ts";
import { isStateBatch, type ToWorker } from "./workers/state-protocol.ts";
import { PrimaryState } from "./workers/state-view.ts";

async function serve(operatorConfig: Config): Promise<number> {
  log.level = LOG_LEVELS[operatorConfig.applicationLogLevel];
  const worker = workerNumber();
  const workers = operatorConfig.workers === 0 ? availableCores() : operatorConfig.workers;
  // Which process wrote a line, when several write to the one stderr; the primary is worker 0.
  setLogFormat(log, { json: operatorConfig.applicationLogJsonEnabled, worker: worker ?? (workers > 1 ? 0 : undefined) });
  // The primary warns; its workers run the same command line.
  if (worker === undefined) for (const warning of startupWarnings(operatorConfig)) log.warn(warning);
  let plan: FleetPlan | undefined;
  if (worker === undefined && workers > 1) {
    try {
      plan = planFleet({ config: operatorConfig, workers, args: process.argv.slice(2), log, clock: systemClock });
    } catch (e) {
      if (!(e instanceof ListenError)) throw e;
      log.error(`Failed to start sallyport: ${e.message}`);
      return 1;
    }
  }
  if (plan || worker !== undefined) sharePorts();
  const config = plan?.config ?? operatorConfig;
  // Listen for signals before starting: a SIGHUP right after the listeners are up must not kill
  // the process (Node's default for SIGHUP), and a SIGTERM during startup must still drain.
  let app: Sallyport | undefined;
  process.on("SIGHUP", () => {
    if (!app) return; // startup is reading everything anyway
    log.info("SIGHUP: re-reading routes, secrets, egress lists, the forward auth file and the TLS files");
    void app.reread();
  });
  // SIGUSR1 without a handler would kill the process: logrotate sends it after renaming the file.
  process.on("SIGUSR1", () => {
    if (!app) return;
    log.info("SIGUSR1: reopening the access log");
    void app.reopenLogs();
  });
  const stopSignal = stopSignalOf();
  // A worker whose primary died (killed, out of memory) drains and goes, instead of holding the port alone.
  const orphaned = worker === undefined ? undefined : new Promise<string>((resolve) => process.once("disconnect", () => resolve("the primary is gone")));
  let fleet: Fleet | undefined;
  try {
    app = await startSallyport(config, log, systemClock, plan?.shared ?? (worker === undefined ? undefined : sharedWithPrimary(config)));
    // The primary announces the ports once every worker has them.
    if (worker !== undefined) process.send?.({ ready: true, support: app.addresses.get("support") });
    if (plan) {
      const self = app;
      fleet = await plan.start({ support: self.addresses.get("support")!, ready: () => self.ready }).catch(async (e: Error) => {
        await self.stop(0);
        log.error(`Failed to start sallyport: ${e.message}`);
        return undefined;
      });
      if (!fleet) return 1;
    }
  } catch (e) {
    const code = startupExitCode(e);
    if (code === undefined) throw e;
    log.error(`Failed to start sallyport: ${(e as Error).message}`);
    return code;
  }
  const signal = await (orphaned ? Promise.race([stopSignal, orphaned]) : stopSignal);
  // Kubernetes keeps sending until its readiness probe has seen the 503: only then stop accepting.
  app.startDraining();
  fleet?.startDraining();
  if (config.waitForHealthcheckInterval > 0) {
    log.info(`${signal}: /readyz answers 503; the listeners stop accepting in ${config.waitForHealthcheckInterval} ms`);
    await systemClock.sleep(config.waitForHealthcheckInterval);
  }
  log.info(`${signal}: draining in-flight requests and tunnels (at most ${config.shutdownTimeout} ms)`);
  await Promise.all([app.stop(config.shutdownTimeout), fleet?.stop(config.shutdownTimeout)]);
  await fleet?.close();
  log.info("stopped");
  return 0;
}

/** A worker's breakers and rate limits: the primary's, over the IPC channel it opened. */
function sharedWithPrimary(config: Config): SharedState {
  const primary = new PrimaryState({ send: (batch) => process.send?.(batch), clock: systemClock, nextTurn });
  process.on("message", (message) => {
    if (isStateBatch<ToWorker>(message)) primary.receive(message);
  });
  process.once("disconnect", () => primary.disconnected());
  return { limiters: primary.limiters, breakers: new BreakerRegistry({ entries: config.breaker, clock: systemClock, create: primary.breakers }) };
}

/** Resolves with SIGTERM or SIGINT, whichever comes first. */
function stopSignalOf(): Promise<string> {
  return new Promise<string>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
}

/** Startup failures we can explain; anything else is a bug and keeps its stack trace. */
function startupExitCode(e: unknown): number | undefined {
  // A -credentials-paths entry that does not exist is a usage error, as a bad flag value is.
  if (e instanceof CredentialsPathError) return EXIT_USAGE;
  if (e instanceof StartupError || e instanceof RouteSourceError) return 1;
  return undefined;
}

const code = await runCli(process.argv.slice(2), {
  serve,
  check: (request) => runCheckCommand(request),
  caInit: (dir) => runCaInit(dir, process.stdout),
  eskipParse: runEskipParse,
  explain: (config, words) => runExplain(config, words, process.stdout, process.stderr),
  testPolicy: (config, file) => runTestPolicy(config, file, process.stdout, process.stderr),
});
process.exit(code);
