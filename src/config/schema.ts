/**
 * @module
 * The proxy's whole configuration, validated in one place before anything listens.
 * The CLI builds the input from its flag table; values arrive already typed
 * (durations in milliseconds), so this schema checks meaning, not syntax.
 */
import * as v from "valibot";
import { parseBreakerFlag } from "../circuit/settings.ts";
import type { LookupFamily } from "../egress/dns.ts";
import { parseEgressRule, type EgressRule } from "../egress/rules.ts";
import { parseNumericHost } from "../net/numeric-host.ts";
import { parseRatelimitFlag } from "../ratelimit/settings.ts";
import { parseShard, type ShardSettings } from "../swarm/settings.ts";
import { parseListenAddress } from "./listen-address.ts";

/** logrus levels, the ones Skipper's `-application-log-level` accepts. */
export const LOG_LEVELS = ["panic", "fatal", "error", "warn", "info", "debug", "trace"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

// rawCheck rather than check: the reason comes from the parser ("missing port in address").
const listenAddress = (allowEmpty: boolean) =>
  v.pipe(
    v.string(),
    v.rawCheck<string>(({ dataset, addIssue }) => {
      if (!dataset.typed || (allowEmpty && dataset.value === "")) return;
      try {
        parseListenAddress(dataset.value);
      } catch (error) {
        addIssue({ message: (error as Error).message });
      }
    }),
  );

/** A logrus level name, any case; logrus also takes `warning` for `warn`. */
const logLevel = v.pipe(
  v.string(),
  v.toLowerCase(),
  v.transform((level) => (level === "warning" ? "warn" : level)),
  v.picklist(LOG_LEVELS, `not a valid log level, use one of ${LOG_LEVELS.join(", ")}`),
);

const milliseconds = v.pipe(v.number(), v.minValue(0, "must not be negative"));

/** A repeatable `key=value` flag: every entry parsed by `parse`, whose message is the issue's. */
const entries = <T>(parse: (entry: string) => T) =>
  v.pipe(
    v.array(v.string()),
    v.rawTransform<string[], T[]>(({ dataset, addIssue, NEVER }) => {
      try {
        return dataset.value.map(parse);
      } catch (error) {
        addIssue({ message: (error as Error).message });
        return NEVER;
      }
    }),
  );

const integer = (min: number, max: number, message: string) =>
  v.pipe(v.number(), v.integer(message), v.minValue(min, message), v.maxValue(max, message));

const positiveMilliseconds = v.pipe(v.number(), v.gtValue(0, "must be more than 0"));

/**
 * A comma list whose entries `parse` turns into values; unlike {@link entries}, every bad entry
 * is its own issue (`entry "x": why`), so one run names them all.
 */
const listOf = <T>(parse: (entry: string) => { value: T } | { error: string }) =>
  v.pipe(
    v.array(v.string()),
    v.rawTransform<string[], T[]>(({ dataset, addIssue, NEVER }) => {
      const values: T[] = [];
      for (const entry of dataset.value) {
        const result = parse(entry);
        if ("value" in result) values.push(result.value);
        else addIssue({ message: `entry ${JSON.stringify(entry)}: ${result.error}` });
      }
      return values.length === dataset.value.length ? values : NEVER;
    }),
  );

/** Decimal only, as in listener addresses: `0x1bb` or `https` in a port list is more likely a slip than meant. */
const port = (text: string): { value: number } | { error: string } => {
  const n = Number(text);
  return /^\d{1,5}$/.test(text) && n >= 1 && n <= 65535 ? { value: n } : { error: "not a port (1–65535)" };
};

const redisShard = (entry: string): { value: ShardSettings } | { error: string } => parseShard(entry);

// parseEgressRule's reasons start with the quoted entry themselves; listOf adds it once.
const egressRule = (entry: string): { value: EgressRule } | { error: string } => {
  const result = parseEgressRule(entry);
  if ("rule" in result) return { value: result.rule };
  const quoted = `${JSON.stringify(entry.trim())}: `;
  return { error: result.error.startsWith(quoted) ? result.error.slice(quoted.length) : result.error };
};

/**
 * `ip`, `ip:port`, `[v6]` or `[v6]:port` (a bare IPv6 takes no port), normalised to what
 * node:dns `Resolver.setServers` takes. A name is refused: resolving the resolver would need a
 * resolver, and the system's is what `-dns-servers` is there to replace.
 */
const dnsServer = (entry: string): { value: string } | { error: string } => {
  let host = entry;
  let portText = "53";
  if (entry.startsWith("[")) {
    const close = entry.indexOf("]");
    const rest = entry.slice(close + 1);
    if (close < 0 || (rest !== "" && !rest.startsWith(":"))) return { error: "not ip, ip:port, [v6] or [v6]:port" };
    host = entry.slice(0, close + 1);
    if (rest !== "") portText = rest.slice(1);
  } else if (entry.indexOf(":") === entry.lastIndexOf(":") && entry.includes(":")) {
    [host, portText] = entry.split(":") as [string, string];
  }
  const read = parseNumericHost(host);
  if (read.kind === "name") return { error: "a DNS server must be an IP address, not a name" };
  if (read.kind === "invalid") return { error: "not an IP address" };
  const p = port(portText);
  if ("error" in p) return { error: `${JSON.stringify(portText)} is ${p.error}` };
  return { value: read.family === 6 ? `[${read.address}]:${p.value}` : `${read.address}:${p.value}` };
};

const LOOKUP_FAMILIES = ["any", "v4", "v6"] as const satisfies readonly LookupFamily[];
/** Envoy's `dns_lookup_family` names for ours, so an Envoy setting can be carried over as written. */
const ENVOY_LOOKUP_FAMILIES: Readonly<Record<string, LookupFamily>> = { auto: "any", v4_only: "v4", v6_only: "v6" };

export const ConfigSchema = v.pipe(
  v.strictObject({
    /** proxy listener, `host:port` */
    address: listenAddress(false),
    /** eskip text given on the command line */
    inlineRoutes: v.string(),
    /** eskip files, polled every `sourcePollTimeout` */
    routesFile: v.array(v.string()),
    /** route file polling interval, ms; Skipper's flag is an int of milliseconds */
    sourcePollTimeout: integer(1, Number.MAX_SAFE_INTEGER, "must be a positive number of milliseconds"),
    /** `/healthz` and `/routes` listener; "" disables it */
    supportListener: listenAddress(true),
    /** status when no route matches; 1xx cannot end a request */
    defaultHttpStatus: integer(200, 599, "must be an HTTP status between 200 and 599"),
    /** backend dial timeout, ms; 0 means none. CONNECT tunnels dial themselves; fetch backends' dialing counts within responseHeaderTimeoutBackend */
    timeoutBackend: milliseconds,
    /** wait for backend response headers, ms */
    responseHeaderTimeoutBackend: milliseconds,
    /** client keep-alive idle timeout, ms */
    idleTimeoutServer: milliseconds,
    /** time to read a whole client request, ms */
    readTimeoutServer: milliseconds,
    /** forward the client's Host header instead of the backend's */
    proxyPreserveHost: v.boolean(),
    /** `<loopback>` hops allowed per request */
    maxLoopbacks: integer(0, Number.MAX_SAFE_INTEGER, "must not be negative"),
    /** normalised to lower case; logrus also takes `warning` for `warn` */
    applicationLogLevel: logLevel,
    /** PEM bundle of extra CAs for TLS backends; read by the proxy, not here */
    backendCaFile: v.string(),
    /** skip verifying backends' TLS certificates (Skipper's -insecure); the start warns when set */
    insecure: v.boolean(),
    /** `-breaker` entries in command-line order: global ones merge into a default, host ones apply per host */
    breaker: entries(parseBreakerFlag),
    /** Skipper's switch for filter-only breakers; breaker filters always work here */
    enableBreakers: v.boolean(),
    /** `-ratelimits` entries; only the first is used, as the global limit (Skipper's rule) */
    ratelimits: entries(parseRatelimitFlag),
    /** Skipper's switch that registers the ratelimit filters; they are always registered here */
    enableRatelimits: v.boolean(),
    /** cluster rate limits in Redis: on, the shards, the password and CA files, the call deadlines, what happens without Redis */
    enableSwarm: v.boolean(),
    swarmRedisUrls: listOf(redisShard),
    swarmRedisPassword: v.string(),
    swarmRedisCaFile: v.string(),
    swarmRedisDialTimeout: positiveMilliseconds,
    swarmRedisReadTimeout: positiveMilliseconds,
    clusterRatelimitFailClosed: v.boolean(),
    /** secret files and directories; existence is checked at start, by the secrets store */
    credentialsPaths: v.array(v.string()),
    /** secrets re-read interval, ms; Skipper turns a value <= 0 into its 10m default */
    credentialsUpdateInterval: v.pipe(
      v.number(),
      v.transform((ms) => (ms > 0 ? ms : 10 * 60_000)),
    ),
    /** forward proxy port (http_proxy, https_proxy/CONNECT clients), `host:port`; "" disables it */
    forwardAddress: listenAddress(true),
    /** ports CONNECT may reach, anything else is 403; empty allows no CONNECT at all */
    connectPorts: listOf(port),
    /** ms a forward-port client has to send a whole request head (then 408); 0 would let a slowloris hold a socket forever */
    forwardHeadTimeout: positiveMilliseconds,
    /** htpasswd file for Proxy-Authorization on the forward port (407 otherwise); read by the app, re-read on change */
    forwardAuthFile: v.string(),
    /** client-chosen destinations allowed; once there is any, everything unlisted is denied */
    egressAllow: listOf(egressRule),
    /** client-chosen destinations denied; deny wins over allow */
    egressDeny: listOf(egressRule),
    /** file of allow entries, one a line, `#` comments; read and re-read on change by the app, so a bad line is its error, not the schema's */
    egressAllowFile: v.string(),
    /** file of deny entries, as egressAllowFile */
    egressDenyFile: v.string(),
    /** file of per-client roles (src/egress/roles.ts) */
    egressRolesFile: v.string(),
    /** let client-chosen destinations reach loopback, RFC 1918, link-local and other special-purpose addresses */
    egressAllowPrivate: v.boolean(),
    /** enforce, or report: what the allow and deny rules refuse is let through, logged and counted (never the private-address guard's refusals) */
    egressMode: v.picklist(["enforce", "report"], "must be enforce or report"),
    /** DNS servers for client-chosen names, normalised to `ip:port` / `[v6]:port`; empty: the system's */
    dnsServers: listOf(dnsServer),
    /** which records a name is resolved to: A and AAAA, A only, AAAA only; any case, Envoy's names too */
    dnsLookupFamily: v.pipe(
      v.string(),
      v.toLowerCase(),
      v.transform((family): string => ENVOY_LOOKUP_FAMILIES[family] ?? family),
      v.picklist(LOOKUP_FAMILIES, "not a lookup family, use any, v4 or v6 (or Envoy's AUTO, V4_ONLY, V6_ONLY)"),
    ),
    /** ms a DNS answer is kept at least, whatever its TTL says; more than dnsMaxTtl is refused below */
    dnsMinTtl: milliseconds,
    /** ms a DNS answer is kept at most, whatever its TTL says */
    dnsMaxTtl: milliseconds,
    /** ms a lookup may take (then 504 dns-timeout); 0 would fail every lookup at once */
    dnsTimeout: positiveMilliseconds,
    /** ms /readyz answers 503 after SIGTERM before the listeners stop accepting */
    waitForHealthcheckInterval: milliseconds,
    /** ms in-flight requests and tunnels get to finish after SIGTERM */
    shutdownTimeout: milliseconds,
    /** application log as logrus JSON */
    applicationLogJsonEnabled: v.boolean(),
    /** access log file, reopened on SIGUSR1; "" is stderr */
    accessLog: v.string(),
    accessLogDisabled: v.boolean(),
    accessLogJsonEnabled: v.boolean(),
    /** leave query strings out of access log lines */
    accessLogStripQuery: v.boolean(),
    /** the level of egress denials; allowed destinations are logged one level below */
    egressLogLevel: logLevel,
    /** SNI port, `host:port`; "" disables it */
    sniAddress: listenAddress(true),
    /** the port the SNI port dials */
    sniUpstreamPort: integer(1, 65535, "must be a port between 1 and 65535"),
    /** `HOST<suffix>` is sent to `https://HOST`; "" disables it; a leading dot is required so `evil-egress.local` is not `evil-` */
    egressSuffix: v.pipe(v.string(), v.toLowerCase(), v.check((suffix) => suffix === "" || /^\.[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(suffix), "must be empty or a domain suffix starting with a dot, like .egress.local")),
    /** TLS for -address and the forward port: certificate and key files, read by the app */
    tlsCert: v.string(),
    tlsKey: v.string(),
    /** CA bundle for client certificates */
    tlsClientCa: v.string(),
    tlsClientAuth: v.picklist(["none", "request", "require"], "must be none, request or require"),
    tlsHandshakeTimeout: positiveMilliseconds,
    /** CONNECT interception: the CA pair (read by the app) and the hosts it applies to */
    interceptCaCert: v.string(),
    interceptCaKey: v.string(),
    interceptHosts: listOf(egressRule),
    /** Skipper's queue listener: connections served at once per listener, and waiting at most (0: ten times that) */
    enableTcpQueue: v.boolean(),
    maxTcpListenerConcurrency: integer(0, 1_000_000, "must be between 0 and 1000000"),
    maxTcpListenerQueue: integer(0, 10_000_000, "must be between 0 and 10000000"),
    /** `/debug/explain` on the support listener */
    enableDebugExplain: v.boolean(),
    /** worker processes sharing the ports; 0 is one per core (resolved by main) */
    workers: integer(0, 256, "must be between 0 and 256"),
    /** destinations with metric series of their own; the rest share host="other" */
    metricsMaxHosts: integer(1, 1_000_000, "must be between 1 and 1000000"),
    /** Skipper flags given on the command line that do nothing here yet, by name without the dash; the start warns about each */
    unwiredFlags: v.array(v.string()),
  }),
  // Either bound would silently win over the other; the issue goes to the min flag, the one named
  // first. A negative max has its own issue already (a failed minValue still counts as typed here).
  v.forward(
    v.partialCheck([["tlsCert"], ["tlsKey"]], ({ tlsCert, tlsKey }) => (tlsCert === "") === (tlsKey === ""), "-tls-cert and -tls-key go together"),
    ["tlsCert"],
  ),
  v.forward(
    v.partialCheck([["tlsClientAuth"], ["tlsClientCa"], ["tlsCert"]], ({ tlsClientAuth, tlsClientCa, tlsCert }) => tlsClientAuth === "none" || (tlsClientCa !== "" && tlsCert !== ""), "needs -tls-client-ca and -tls-cert"),
    ["tlsClientAuth"],
  ),
  v.forward(
    v.partialCheck([["tlsClientAuth"], ["tlsClientCa"]], ({ tlsClientAuth, tlsClientCa }) => tlsClientCa === "" || tlsClientAuth !== "none", "does nothing without -tls-client-auth=request or require"),
    ["tlsClientCa"],
  ),
  // Bun cannot layer a TLS server on a TLS socket: an intercepted tunnel inside a TLS forward port has no way to terminate.
  v.forward(
    v.partialCheck([["interceptHosts"], ["tlsCert"], ["forwardAddress"]], ({ interceptHosts, tlsCert, forwardAddress }) => interceptHosts.length === 0 || tlsCert === "" || forwardAddress === "", "cannot be used with -tls-cert on the forward port: TLS inside its TLS cannot be terminated (serve the forward port without -tls-cert, or drop -intercept-hosts)"),
    ["interceptHosts"],
  ),
  v.forward(
    v.partialCheck([["interceptCaCert"], ["interceptCaKey"], ["interceptHosts"]], ({ interceptCaCert, interceptCaKey, interceptHosts }) => (interceptCaCert === "") === (interceptCaKey === "") && (interceptHosts.length === 0 || interceptCaCert !== ""), "-intercept-ca-cert and -intercept-ca-key go together, and -intercept-hosts needs them"),
    ["interceptCaCert"],
  ),
  v.forward(
    v.partialCheck([["enableSwarm"], ["swarmRedisUrls"]], ({ enableSwarm, swarmRedisUrls }) => !enableSwarm || swarmRedisUrls.length > 0, "needs -swarm-redis-urls: the Redis shards that keep the cluster rate limits"),
    ["enableSwarm"],
  ),
  v.forward(
    v.partialCheck([["ratelimits"], ["enableSwarm"]], ({ ratelimits, enableSwarm }) => enableSwarm || !ratelimits.some((r) => r.type.startsWith("cluster")), "type=clusterClient and clusterService need -enable-swarm with -swarm-redis-urls"),
    ["ratelimits"],
  ),
  v.forward(
    v.partialCheck([["dnsMinTtl"], ["dnsMaxTtl"]], ({ dnsMinTtl, dnsMaxTtl }) => dnsMaxTtl < 0 || dnsMinTtl <= dnsMaxTtl, "must not be more than the maximum DNS TTL (-dns-max-ttl)"),
    ["dnsMinTtl"],
  ),
);

/** The validated configuration. Durations are milliseconds. */
export type Config = v.InferOutput<typeof ConfigSchema>;

/** One problem found by {@link validateConfig}. */
export interface ConfigIssue {
  /** the top-level config key at fault; undefined for a problem with the whole object */
  key: string | undefined;
  message: string;
}

export type ConfigResult = { ok: true; config: Config } | { ok: false; issues: ConfigIssue[] };

/** Validates a whole config; reports every problem at once, not just the first. */
export function validateConfig(input: unknown): ConfigResult {
  const result = v.safeParse(ConfigSchema, input);
  if (result.success) return { ok: true, config: result.output };
  return {
    ok: false,
    issues: result.issues.map((issue) => {
      const key = issue.path?.[0]?.key;
      return { key: typeof key === "string" ? key : undefined, message: issue.message };
    }),
  };
}
