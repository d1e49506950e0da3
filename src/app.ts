/**
 * @module
 * Starts sallyport from a validated config: secrets, routes, then the listeners in order. Returns
 * a handle to reload routes and to drain and stop; main.ts wires it to signals. A new way in is one
 * folder exporting a {@link Listener} factory and one line in {@link listeners}.
 */
import type { Socket } from "bun";
import { readFile } from "node:fs/promises";
import { rootCertificates } from "node:tls";
import type { ConsolaInstance } from "consola/core";
import { BreakerRegistry } from "./circuit/registry.ts";
import { queuedResponseBytes } from "./client/body-stream.ts";
import { HttpClient } from "./client/client.ts";
import type { Config } from "./config/index.ts";
import { egressListsOptions, parseListenAddress, resolverOptions, servingTlsOptions, swarmOptions } from "./config/index.ts";
import { openAccessLog } from "./accesslog/index.ts";
import { createDialPlan, type DecisionLog } from "./egress/dial.ts";
import { createDestinationMatcher } from "./egress/policy.ts";
import { createMetrics, type Metrics } from "./metrics/index.ts";
import { createResolver } from "./egress/dns.ts";
import { EgressLists } from "./egress/lists.ts";
import { Exchanges } from "./exchange/record.ts";
import { logsAt, quieter, writerAt, type LogLevelName } from "./log/index.ts";
import { SUPPORT_LISTENER, supportListener } from "./metrics/support.ts";
import { ListenError, portsShared, type Listener } from "./net/listener.ts";
import { proxyListener } from "./proxy/listener.ts";
import type { RetryStats } from "./proxy/retry.ts";
import { createRequestLimit } from "./ratelimit/global.ts";
import { openSwarm } from "./ratelimit/swarm.ts";
import { debugExplain } from "./explain/debug.ts";
import { worldOf } from "./explain/load.ts";
import { LimiterRegistry } from "./ratelimit/registry.ts";
import type { LimiterFactory } from "./ratelimit/limiter.ts";
import { buildFallbackTable, withFallback } from "./routing/fallback.ts";
import { builtinRegistries } from "./routing/registries.ts";
import { RouteSource } from "./routing/source.ts";
import { SecretStore } from "./secrets/index.ts";
import { ForwardAuth } from "./tunnel/auth.ts";
import { sniListener } from "./sni/listener.ts";
import { forwardListener } from "./tunnel/forward.ts";
import type { InterceptOptions } from "./tunnel/intercept.ts";
import { LeafCertificates, loadCa } from "./tls/ca.ts";
import { ServingTls } from "./tls/serving.ts";
import { frontedListener } from "./https/listener.ts";
import { Admission, defaultQueue } from "./net/admission.ts";
import { systemClock, type Clock } from "./util/clock.ts";

export interface Sallyport {
  /** the bound `host:port` of each listener, by name (port 0 resolved) */
  readonly addresses: ReadonlyMap<string, string>;
  readonly routes: RouteSource;
  /** `-credentials-paths`; refresh() re-reads them all (SIGHUP) */
  readonly secrets: SecretStore;
  /** circuit breakers by destination, and how often requests were retried (for metrics) */
  readonly breakers: BreakerRegistry;
  readonly retries: RetryStats;
  /** every completed exchange, for the observers that subscribe (access log, metrics) */
  readonly exchanges: Exchanges;
  /** what each listener has open now (connections, or requests in flight), by name (for metrics) */
  openByListener(): Map<string, number>;
  /** reopens the -access-log file (SIGUSR1, after logrotate renamed it) */
  reopenLogs(): Promise<void>;
  /** re-reads every file it serves from now (SIGHUP): routes, secrets, egress lists and roles, the forward auth file, the TLS files */
  reread(): Promise<void>;
  /** what `/metrics` serves; undefined without a support listener */
  readonly metrics: Metrics | undefined;
  /** egress decisions on client-chosen destinations, by reason (for metrics) */
  readonly egressDecisions: ReadonlyMap<string, number>;
  /** listeners bound, routes and secrets loaded, not draining: what `/readyz` says */
  readonly ready: boolean;
  /** `/readyz` turns 503 so load balancers move away; everything keeps serving until stop() */
  startDraining(): void;
  /** stop accepting, let in-flight requests and tunnels finish (at most `graceMs`, default -shutdown-timeout), then close; listeners in order */
  stop(graceMs?: number): Promise<void>;
}

/** A problem with the configuration that the flags could not catch (files, addresses in use). */
export class StartupError extends Error {}

/**
 * Where breaker and rate-limit state lives when it is not this process's alone (`-workers`: the
 * primary's, see src/workers/state-view.ts).
 */
export interface SharedState {
  readonly limiters: LimiterFactory;
  /** the breakers, whose state changes someone else logs and counts in /metrics */
  readonly breakers: BreakerRegistry;
}

export async function startSallyport(config: Config, log: ConsolaInstance, clock: Clock = systemClock, shared?: SharedState): Promise<Sallyport> {
  const tls = await backendTls(config);
  const serving = await openServingTls(config, log, clock);
  // Read before routes and listeners: a missing path stops the start (CredentialsPathError),
  // and the first request already finds its secrets.
  const secrets = await SecretStore.open({ paths: config.credentialsPaths, intervalMs: config.credentialsUpdateInterval, log, clock });
  // Skipper gates the ratelimit filters behind -enable-ratelimits and makes the breaker filters
  // no-ops without -enable-breakers; here a filter in a route always does what it says.
  const swarm = await openSwarm(swarmOptions(config), log, clock);
  const ratelimits = new LimiterRegistry(clock, shared?.limiters, swarm?.limiters);
  // Shared breakers are the primary's: it writes their state changes to the log and to /metrics.
  const breakers = shared?.breakers ?? new BreakerRegistry({ entries: config.breaker, clock, log: (message) => log.info(message) });
  const retries: RetryStats = { retries: 0 };
  const exchanges = new Exchanges(clock);
  const routes = await RouteSource.load({
    inlineRoutes: config.inlineRoutes,
    files: config.routesFile,
    pollMs: config.sourcePollTimeout,
    registries: builtinRegistries({ secrets, ratelimits }),
    log,
    clock,
  });
  const egress = await openEgress(config, log, clock);
  const intercept = await openInterception(config, clock);
  // Skipper uses the first -ratelimits entry only.
  const requestLimit = createRequestLimit(config.ratelimits[0], clock, shared?.limiters, swarm?.limiters);
  const forwardAuth = config.forwardAuthFile ? await ForwardAuth.open({ file: config.forwardAuthFile, pollMs: config.sourcePollTimeout, clock, log }) : undefined;
  let draining = false;
  const onError = (err: Error) => log.error(`internal error: ${err?.stack ?? err}`);
  const table = () => routes.table;
  // The built-in routes behind the configured ones: the egress suffix's on both ports, and on the
  // forward port the catch-all to wherever the client asked.
  const builtins = (forward: boolean) => buildFallbackTable(builtinRegistries({ secrets, ratelimits }), { egressSuffix: config.egressSuffix, forward });
  const addressBuiltins = config.egressSuffix ? builtins(false) : undefined;
  const forwardBuiltins = config.forwardAddress ? builtins(true) : undefined;

  // One pool of backend connections for every listener.
  const backends = new HttpClient();
  // What the proxy port and the forward port's engine share: they are one route engine.
  const engine = {
      defaultStatus: config.defaultHttpStatus,
      maxLoopbacks: config.maxLoopbacks,
      preserveHost: config.proxyPreserveHost,
      readTimeout: config.readTimeoutServer,
      idleTimeoutMs: config.idleTimeoutServer,
      upstream: { responseHeaderTimeout: config.responseHeaderTimeoutBackend, tls, client: backends },
      breakers,
      requestLimit,
      retryStats: retries,
      exchanges,
      dialPlan: egress.dialPlan,
      egressSuffix: config.egressSuffix,
      recordQuery: !config.accessLogDisabled && !config.accessLogStripQuery,
      clock,
      log,
  };
  const started: Listener[] = [];
  // -enable-tcp-queue: one admission per way in (the support listener is never held back).
  const admissions = new Map<string, Admission<Socket<unknown>>>();
  const admissionFor = (listener: string) => {
    if (!config.enableTcpQueue || config.maxTcpListenerConcurrency === 0) return undefined;
    const concurrency = config.maxTcpListenerConcurrency;
    const admission = new Admission<Socket<unknown>>({ concurrency, queue: config.maxTcpListenerQueue || defaultQueue(concurrency) });
    admissions.set(listener, admission);
    return admission;
  };
  // Made before the listeners start, so the first request is counted; served on the support port.
  const metrics = config.supportListener
    ? createMetrics({
        clock,
        maxHosts: config.metricsMaxHosts,
        exchanges,
        breakers: shared ? undefined : breakers,
        ratelimits,
        requestLimit,
        retries: () => retries.retries,
        egressDecisions: egress.dialPlan.decisions,
        egressWouldDeny: egress.dialPlan.wouldDeny,
        dns: egress.resolver,
        swarm: swarm && { shards: swarm.swarm.shards, observeLatency: (o) => swarm.swarm.observeLatency(o), failures: () => swarm.swarm.failures(), stats: swarm.stats },
        secrets,
        openByListener: () => new Map(started.map((l) => [l.name, l.open])),
        admissions: config.enableTcpQueue ? admissions : undefined,
        responseBytesQueued: queuedResponseBytes,
        certificates: serving && (() => started.flatMap((l) => (l.name === "proxy" || l.name === "forward" ? [{ listener: l.name, notAfter: serving.notAfter }] : []))),
      })
    : undefined;
  // In start order: the support listener (health) last, so /readyz answers only once the rest is bound.
  const proxyOptions = { ...engine, ...parseListenAddress(config.address), table: addressBuiltins ? withFallback(table, addressBuiltins) : table };
  const handshakeTimeout = config.tlsHandshakeTimeout;
  // Bun.serve itself unless something needs the connections before Bun.serve sees them.
  const addressAdmission = admissionFor("proxy");
  const listeners: Listener[] = [serving || addressAdmission ? frontedListener({ ...proxyOptions, tls: serving, handshakeTimeout, admission: addressAdmission }) : proxyListener(proxyOptions)];
  if (forwardBuiltins) {
    listeners.push(
      forwardListener({
        ...engine,
        ...parseListenAddress(config.forwardAddress),
        table: withFallback(table, forwardBuiltins),
        headTimeout: config.forwardHeadTimeout,
        connectPorts: config.connectPorts,
        auth: forwardAuth,
        dialTimeout: config.timeoutBackend,
        intercept,
        tls: serving,
        handshakeTimeout,
        admission: admissionFor("forward"),
      }),
    );
  }
  if (config.sniAddress) {
    listeners.push(sniListener({ ...engine, ...parseListenAddress(config.sniAddress), upstreamPort: config.sniUpstreamPort, headTimeout: config.forwardHeadTimeout, dialTimeout: config.timeoutBackend, admission: admissionFor("sni") }));
  }
  if (config.supportListener) {
    // Built per request from the live table: a reload is seen at once.
    const breakerState = (destination: string) => [...breakers.states()].find(([host]) => host === destination)?.[1];
    const live = { breakerState, liveLimiter: (name: string) => ratelimits.find(name) };
    const world = () => worldOf(config, routes.table.routes.map((r) => r.def), (def) => routes.whereOf(def), egress.lists, egress.resolver, live);
    const explain = config.enableDebugExplain ? debugExplain(world) : undefined;
    listeners.push(supportListener({ ...parseListenAddress(config.supportListener), table, fallback: forwardBuiltins ?? addressBuiltins, ready: () => !draining, metrics, explain, wait: (ms) => clock.sleep(ms), onError }));
  }

  // Opened last before the listeners: a failed start below is the only path that must close it.
  const accessLog = config.accessLogDisabled
    ? undefined
    : await openAccessLog(exchanges, { path: config.accessLog, json: config.accessLogJsonEnabled, stripQuery: config.accessLogStripQuery, clock, warn: (m) => log.warn(m) }).catch((e: Error) => {
        throw new StartupError(e.message, { cause: e });
      });
  const addresses = new Map<string, string>();
  try {
    for (const listener of listeners) {
      const address = await listener.start();
      started.push(listener);
      addresses.set(listener.name, address);
      // A worker's ports are the primary's to announce.
      (portsShared() ? log.debug : log.info)(listener.name === "proxy" ? `Listen on ${address}` : `${listener.name} listener on ${address}`);
    }
  } catch (e) {
    // Whatever did start goes again: a failed start must not leave a port bound.
    for (const listener of started) await listener.stop(0);
    await accessLog?.close();
    metrics?.stop();
    serving?.stop();
    throw e instanceof ListenError ? new StartupError(e.message, { cause: e }) : e;
  }
  routes.watch();
  secrets.start();
  egress.lists.start();
  forwardAuth?.start();
  serving?.start();

  return {
    addresses,
    routes,
    secrets,
    breakers,
    retries,
    exchanges,
    egressDecisions: egress.dialPlan.decisions,
    reopenLogs: () => accessLog?.reopen() ?? Promise.resolve(),
    async reread() {
      await Promise.all([routes.poll(), secrets.refresh(), egress.lists.reread(), forwardAuth?.reread(), serving?.reread()]);
    },
    openByListener: () => new Map(started.map((listener) => [listener.name, listener.open])),
    metrics,
    get ready() {
      return !draining;
    },
    startDraining() {
      draining = true;
    },
    async stop(graceMs = config.shutdownTimeout) {
      draining = true;
      routes.stop();
      secrets.stop();
      egress.lists.stop();
      forwardAuth?.stop();
      serving?.stop();
      // Every way in stops accepting at once and drains in parallel, so -shutdown-timeout bounds
      // the whole drain; the support listener goes last, answering /healthz and a 503 /readyz
      // while the others drain.
      const drain = async (listener: Listener) => {
        if ((await listener.stop(graceMs)) === "forced") log.warn(`${listener.name} listener: requests still in flight after ${graceMs} ms; their connections were closed`);
      };
      const support = started.filter((listener) => listener.name === SUPPORT_LISTENER);
      await Promise.all(started.filter((listener) => listener.name !== SUPPORT_LISTENER).map(drain));
      await Promise.all(support.map(drain));
      backends.close();
      swarm?.swarm.close();
      // After the listeners: exchanges that ended while draining are logged too.
      await accessLog?.close();
      metrics?.stop();
    },
  };
}

/**
 * CONNECT interception: the CA pair of -intercept-ca-cert/-key (checked at start: a bad pair stops
 * it) signing short-lived leaves per host, for the destinations -intercept-hosts names.
 */
async function openInterception(config: Config, clock: Clock): Promise<InterceptOptions | undefined> {
  if (config.interceptHosts.length === 0) return undefined;
  let leaves: LeafCertificates;
  try {
    const [certPem, keyPem] = await Promise.all([readFile(config.interceptCaCert, "utf8"), readFile(config.interceptCaKey, "utf8")]);
    leaves = new LeafCertificates({ ca: await loadCa(certPem, keyPem), clock });
  } catch (e) {
    // Our own sentences (CertificateError) or a read error's code: never the key's bytes.
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new StartupError(`-intercept-ca-cert/-intercept-ca-key: ${why}`);
  }
  return { matches: createDestinationMatcher(config.interceptHosts), leafFor: (host) => leaves.leafFor(host) };
}

/**
 * The certificate -address and the forward port serve (-tls-cert/-tls-key, and -tls-client-ca
 * for -tls-client-auth), re-read on the -source-poll-timeout clock; a bad set stops the start.
 */
async function openServingTls(config: Config, log: ConsolaInstance, clock: Clock): Promise<ServingTls | undefined> {
  const options = servingTlsOptions(config, { log, clock });
  return options && ServingTls.open(options).catch((e: Error) => {
    throw new StartupError(e.message, { cause: e });
  });
}

/**
 * The egress policy (flag rules and their files, re-read on change), our DNS cache, and the dial
 * plan every client-chosen destination goes through; each decision is a line at -egress-log-level.
 */
async function openEgress(config: Config, log: ConsolaInstance, clock: Clock) {
  let lists: EgressLists;
  try {
    lists = await EgressLists.open(egressListsOptions(config, { clock, log }));
  } catch (e) {
    throw new StartupError((e as Error).message, { cause: e });
  }
  const resolver = createResolver(resolverOptions(config, clock));
  const dialPlan = createDialPlan({ policy: (client) => lists.policyFor(client), resolver, log: egressLog(log, config.egressLogLevel) });
  return { lists, resolver, dialPlan };
}

/**
 * Decision lines at -egress-log-level: denials at that level, allowed destinations one below it,
 * so the default (info) keeps denials in view without a line for every request let through.
 */
function egressLog(log: ConsolaInstance, level: LogLevelName): DecisionLog {
  const denied = writerAt(log, level);
  const allowed = writerAt(log, quieter(level));
  return {
    // Checked per decision: -application-log-level may hide allowed lines, and then none is formatted.
    wants: (isAllowed) => logsAt(log, isAllowed ? quieter(level) : level),
    write: (line, isAllowed) => (isAllowed ? allowed(line) : denied(line)),
  };
}

/**
 * TLS settings for https backends. fetch's `tls.ca` replaces the system store, so an extra CA
 * file is added to it, not used alone; `-insecure` turns verification off (main.ts warns).
 */
async function backendTls(config: Pick<Config, "backendCaFile" | "insecure">): Promise<{ ca?: string[]; rejectUnauthorized?: boolean } | undefined> {
  const insecure = config.insecure ? { rejectUnauthorized: false } : undefined;
  const caFile = config.backendCaFile;
  if (!caFile) return insecure;
  let pem: string;
  try {
    pem = await readFile(caFile, "utf8");
  } catch (e) {
    throw new StartupError(`-backend-ca-file ${caFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new StartupError(`-backend-ca-file ${caFile}: no PEM certificate in the file`);
  return { ...insecure, ca: [...rootCertificates, pem] };
}
