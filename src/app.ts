/**
 * @module
 * Starts sallyport from a validated config: routes, the proxy listener, the support listener.
 * Returns a handle to reload routes and to drain and stop; main.ts wires it to signals.
 */
import { readFile } from "node:fs/promises";
import { rootCertificates } from "node:tls";
import type { ConsolaInstance } from "consola";
import type { Config } from "./config/index.ts";
import { parseListenAddress } from "./config/index.ts";
import { builtinFilterRegistry } from "./filters/builtin.ts";
import { createSupportHandler } from "./metrics/support.ts";
import { builtinPredicateRegistry } from "./predicates/builtin.ts";
import { createHandler } from "./proxy/handler.ts";
import type { Registries } from "./routing/build.ts";
import { RouteSource } from "./routing/source.ts";

export interface Sallyport {
  /** `host:port` the proxy really listens on (port 0 resolved) */
  readonly address: string;
  readonly supportAddress: string | undefined;
  readonly routes: RouteSource;
  /** stop accepting, let in-flight requests finish, then close */
  stop(): Promise<void>;
}

/** A problem with the configuration that the flags could not catch (files). */
export class StartupError extends Error {}

export const builtinRegistries = (): Registries => ({
  filters: builtinFilterRegistry(),
  predicates: builtinPredicateRegistry(),
});

export async function startSallyport(config: Config, log: ConsolaInstance): Promise<Sallyport> {
  const tls = await backendTls(config.backendCaFile);
  const routes = await RouteSource.load({
    inlineRoutes: config.inlineRoutes,
    files: config.routesFile,
    pollMs: config.sourcePollTimeout,
    registries: builtinRegistries(),
    log,
  });
  routes.watch();
  let draining = false;

  const handler = createHandler({
    table: () => routes.table,
    defaultStatus: config.defaultHttpStatus,
    maxLoopbacks: config.maxLoopbacks,
    preserveHost: config.proxyPreserveHost,
    upstream: { responseHeaderTimeout: config.responseHeaderTimeoutBackend || 2 ** 31 - 1, tls },
    onInternalError: (err) => log.error(`internal error: ${(err as Error)?.message ?? err}`),
  });
  const listen = parseListenAddress(config.address);
  const server = Bun.serve({
    ...listen,
    fetch: handler,
    // Bun's idle timer is in whole seconds, at most 255; 0 turns it off.
    idleTimeout: Math.min(255, Math.ceil(config.idleTimeoutServer / 1000)),
    // An egress proxy streams bodies of any size; Skipper's -max-content-length defaults to none.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
  });
  const address = `${server.hostname}:${server.port}`;
  log.info(`Listen on ${address}`);

  let support: ReturnType<typeof Bun.serve> | undefined;
  if (config.supportListener) {
    support = Bun.serve({
      ...parseListenAddress(config.supportListener),
      fetch: createSupportHandler({ table: () => routes.table, healthy: () => !draining }),
    });
    log.info(`support listener on ${support.hostname}:${support.port}`);
  }

  return {
    address,
    supportAddress: support && `${support.hostname}:${support.port}`,
    routes,
    async stop() {
      draining = true;
      routes.stop();
      // stop(false) closes the listener and waits for in-flight requests to finish.
      await server.stop(false);
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
