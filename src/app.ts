/**
 * @module
 * Starts sallyport from a validated config: routes, the proxy listener, the support listener.
 * Returns a handle to reload routes and to drain and stop; main.ts wires it to signals.
 */
import { readFile } from "node:fs/promises";
import { rootCertificates } from "node:tls";
import type { ConsolaInstance } from "consola";
import { BreakerRegistry } from "./circuit/registry.ts";
import type { Config } from "./config/index.ts";
import { parseListenAddress } from "./config/index.ts";
import { builtinFilterRegistry, type FilterDeps } from "./filters/builtin.ts";
import { createSupportHandler } from "./metrics/support.ts";
import { builtinPredicateRegistry } from "./predicates/builtin.ts";
import { errorResponse } from "./proxy/errors.ts";
import { createHandler } from "./proxy/handler.ts";
import type { RetryStats } from "./proxy/retry.ts";
import { createRequestLimit } from "./ratelimit/global.ts";
import { LimiterRegistry } from "./ratelimit/registry.ts";
import type { Registries } from "./routing/build.ts";
import { RouteSource } from "./routing/source.ts";
import { NO_SECRETS, SecretStore } from "./secrets/index.ts";
import { systemClock } from "./util/clock.ts";

export interface Sallyport {
  /** `host:port` the proxy really listens on (port 0 resolved) */
  readonly address: string;
  readonly supportAddress: string | undefined;
  readonly routes: RouteSource;
  /** `-credentials-paths`; refresh() re-reads them all (SIGHUP) */
  readonly secrets: SecretStore;
  /** circuit breakers by destination, and how often requests were retried (for metrics) */
  readonly breakers: BreakerRegistry;
  readonly retries: RetryStats;
  /** stop accepting, let in-flight requests finish (at most `graceMs`), then close */
  stop(graceMs?: number): Promise<void>;
}

/** How long SIGTERM waits for in-flight requests before closing their connections. */
export const DRAIN_TIMEOUT = 30_000;

/** A problem with the configuration that the flags could not catch (files). */
export class StartupError extends Error {}

/** Without deps (e.g. `check`), secret filters build but find no secrets. */
export const builtinRegistries = (deps: FilterDeps = { secrets: NO_SECRETS }): Registries => ({
  filters: builtinFilterRegistry(deps),
  predicates: builtinPredicateRegistry(),
});

export async function startSallyport(config: Config, log: ConsolaInstance): Promise<Sallyport> {
  const tls = await backendTls(config.backendCaFile);
  // Read before routes and listeners: a missing path stops the start (CredentialsPathError),
  // and the first request already finds its secrets.
  const secrets = await SecretStore.open({ paths: config.credentialsPaths, intervalMs: config.credentialsUpdateInterval, log });
  // Skipper gates the ratelimit filters behind -enable-ratelimits and makes the breaker filters
  // no-ops without -enable-breakers; here a filter in a route always does what it says.
  const clock = systemClock;
  const ratelimits = new LimiterRegistry(clock);
  const breakers = new BreakerRegistry({ entries: config.breaker, clock, log: (message) => log.info(message) });
  const retries: RetryStats = { retries: 0 };
  const routes = await RouteSource.load({
    inlineRoutes: config.inlineRoutes,
    files: config.routesFile,
    pollMs: config.sourcePollTimeout,
    registries: builtinRegistries({ secrets, ratelimits }),
    log,
  });
  routes.watch();
  secrets.start();
  let draining = false;

  // Bun's idle timer is in whole seconds, at most 255; 0 turns it off.
  const idleTimeout = Math.min(255, Math.ceil(config.idleTimeoutServer / 1000));
  const logInternal = (err: unknown) => log.error(`internal error: ${(err as Error)?.message ?? err}`);
  // Whatever escapes a handler is logged and answered with a plain 500, never Bun's
  // development page with a stack trace.
  const lastResort = {
    development: false,
    error(err: Error) {
      logInternal(err);
      return errorResponse(500, "internal");
    },
  } as const;
  const handler = createHandler({
    table: () => routes.table,
    defaultStatus: config.defaultHttpStatus,
    maxLoopbacks: config.maxLoopbacks,
    preserveHost: config.proxyPreserveHost,
    readTimeout: config.readTimeoutServer,
    idleTimeout,
    upstream: { responseHeaderTimeout: config.responseHeaderTimeoutBackend, tls },
    onInternalError: logInternal,
    breakers,
    // Skipper uses the first -ratelimits entry only.
    requestLimit: createRequestLimit(config.ratelimits[0], clock),
    retryStats: retries,
    clock,
  });
  const listen = parseListenAddress(config.address);
  const server = Bun.serve({
    ...listen,
    ...lastResort,
    fetch: handler,
    idleTimeout,
    // An egress proxy streams bodies of any size; Skipper's -max-content-length defaults to none.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
  });
  const address = `${server.hostname}:${server.port}`;
  log.info(`Listen on ${address}`);

  let support: ReturnType<typeof Bun.serve> | undefined;
  if (config.supportListener) {
    support = Bun.serve({
      ...parseListenAddress(config.supportListener),
      ...lastResort,
      fetch: createSupportHandler({ table: () => routes.table, healthy: () => !draining }),
    });
    log.info(`support listener on ${support.hostname}:${support.port}`);
  }

  return {
    address,
    supportAddress: support && `${support.hostname}:${support.port}`,
    routes,
    secrets,
    breakers,
    retries,
    async stop(graceMs = DRAIN_TIMEOUT) {
      draining = true;
      routes.stop();
      secrets.stop();
      // stop(false) closes the listener and resolves once in-flight requests are done; a response
      // that never ends (a stuck stream) must not keep the process from exiting.
      const drained = server.stop(false).then(() => true);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<boolean>((resolve) => (timer = setTimeout(resolve, graceMs, false)));
      if (!(await Promise.race([drained, late]))) {
        log.warn(`requests still in flight after ${graceMs} ms; closing their connections`);
        await server.stop(true);
      }
      clearTimeout(timer);
      await support?.stop(true);
    },
  };
}

/** fetch's `tls.ca` replaces the system store, so an extra CA file is added to it, not used alone. */
async function backendTls(caFile: string): Promise<{ ca: string[] } | undefined> {
  if (!caFile) return undefined;
  let pem: string;
  try {
    pem = await readFile(caFile, "utf8");
  } catch (e) {
    throw new StartupError(`-backend-ca-file ${caFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new StartupError(`-backend-ca-file ${caFile}: no PEM certificate in the file`);
  return { ca: [...rootCertificates, pem] };
}
