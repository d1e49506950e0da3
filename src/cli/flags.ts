/**
 * @module
 * The serve command's flags: Skipper's names, defaults and meanings (config/config.go).
 * Adding a flag is one row here (one line each, wide on purpose: it reads as a table),
 * plus its field in src/config/schema.ts when it has a `key`.
 *
 * A Skipper command line must not fail on a flag sallyport cannot act on yet, so such a
 * flag has a row too, marked `unwired`: it is parsed and checked as its kind, and when given
 * it lands in `config.unwiredFlags` and the start logs a warning instead of silently ignoring it.
 */
import type { Config } from "../config/index.ts";
import { parseBreakerFlag } from "../circuit/settings.ts";
import { parseRatelimitFlag } from "../ratelimit/settings.ts";
import type { FlagDef, ParsedFlags } from "./_goflag.ts";

/**
 * A serve flag; `key` must name a {@link Config} field. `unwired` marks a flag accepted
 * for Skipper command lines that does nothing here; it ends the start-up warning
 * `flag -x is accepted for Skipper compatibility but …`.
 */
export type ServeFlag = FlagDef & { readonly key?: keyof Config; readonly unwired?: string };

const NO_EFFECT = "has no effect yet";

// Usage output sorts by name, as Go does, so rows are grouped by topic instead.
export const SERVE_FLAGS: readonly ServeFlag[] = [
  // listeners
  { name: "address", kind: "string", default: ":9090", key: "address", usage: "TCP address the proxy listens on" },
  { name: "support-listener", kind: "string", default: ":9911", key: "supportListener", usage: "TCP address of the support listener (/healthz, /readyz, /routes, /metrics); empty disables it" },
  { name: "metrics-listener", kind: "string", default: ":9911", unwired: "/metrics is served on -support-listener", usage: "Skipper's legacy /metrics listener; accepted, /metrics is served on -support-listener" },
  { name: "enable-debug-explain", kind: "bool", default: false, key: "enableDebugExplain", usage: "serve /debug/explain?url=…&via=… on the support listener: what the proxy would do with a request (it shows how routes and policy are set up; off by default)" },
  { name: "enable-tcp-queue", kind: "bool", default: false, key: "enableTcpQueue", usage: "serve at most -max-tcp-listener-concurrency connections per listener at once; more wait unread, the newest served next; -address then runs behind a raw front" },
  { name: "max-tcp-listener-concurrency", kind: "int", default: 0, key: "maxTcpListenerConcurrency", usage: "with -enable-tcp-queue: connections served at once by each of -address, the forward port and the SNI port; 0 is no limit" },
  { name: "max-tcp-listener-queue", kind: "int", default: 0, key: "maxTcpListenerQueue", usage: "with -enable-tcp-queue: connections waiting at most per listener, the oldest closed beyond it; 0 is ten times the concurrency" },

  // routes
  { name: "inline-routes", kind: "string", default: "", key: "inlineRoutes", usage: "eskip routes given on the command line; a parse error aborts startup" },
  { name: "routes-file", kind: "list", default: [], key: "routesFile", usage: "comma-separated eskip route files, re-read every -source-poll-timeout" },
  { name: "source-poll-timeout", kind: "int", default: 3000, key: "sourcePollTimeout", usage: "polling interval for route files, in milliseconds" },
  { name: "default-http-status", kind: "int", default: 404, key: "defaultHttpStatus", usage: "HTTP status returned when no route matches" },
  { name: "max-loopbacks", kind: "int", default: 9, key: "maxLoopbacks", usage: "maximum number of <loopback> passes per request" },

  // backends
  { name: "timeout-backend", kind: "duration", default: "60s", key: "timeoutBackend", usage: "timeout for dialing a backend connection (CONNECT tunnels; fetch backends count it within -response-header-timeout-backend)" },
  { name: "response-header-timeout-backend", kind: "duration", default: "60s", key: "responseHeaderTimeoutBackend", usage: "how long to wait for a backend's response headers" },
  { name: "proxy-preserve-host", kind: "bool", default: false, key: "proxyPreserveHost", usage: "send the client's Host header to backends instead of the backend's host" },
  { name: "backend-ca-file", kind: "string", default: "", key: "backendCaFile", usage: "PEM file of extra CA certificates trusted for TLS backends" },
  { name: "insecure", kind: "bool", default: false, key: "insecure", usage: "do not verify the TLS certificates of backends" },
  { name: "remove-hop-headers", kind: "bool", default: false, unwired: "hop-by-hop headers are always removed", usage: "accepted for Skipper command lines; hop-by-hop headers are always removed" },
  { name: "max-idle-connection-backend", kind: "int", default: 0, unwired: NO_EFFECT, usage: "Skipper's limit of idle backend connections; accepted, no effect yet" },
  { name: "close-idle-conns-period", kind: "duration", default: "20s", unwired: NO_EFFECT, usage: "Skipper's interval for closing idle backend connections; accepted, no effect yet" },

  // circuit breakers and rate limits
  { name: "breaker", kind: "repeat", default: [], key: "breaker", check: parseBreakerFlag, usage: "global or host circuit breaker, repeatable: type=consecutive|rate|disabled,host=…,window=N,failures=N,timeout=D,half-open-requests=N,idle-ttl=D" },
  { name: "enable-breakers", kind: "bool", default: false, key: "enableBreakers", usage: "accepted for Skipper command lines; the breaker filters always work" },
  { name: "ratelimits", kind: "repeat", default: [], key: "ratelimits", check: parseRatelimitFlag, usage: "global rate limit applied before routing (the first entry counts): type=client|service|clusterClient|clusterService|disabled,max-hits=N,time-window=D[,group=G]" },
  { name: "enable-ratelimits", kind: "bool", default: false, key: "enableRatelimits", usage: "accepted for Skipper command lines; the ratelimit filters are always available" },

  // cluster rate limits (Redis)
  { name: "enable-swarm", kind: "bool", default: false, key: "enableSwarm", usage: "keep cluster rate limits (clusterRatelimit, clusterClientRatelimit, -ratelimits type=cluster…) in the Redis shards of -swarm-redis-urls" },
  { name: "swarm-redis-urls", kind: "list", default: [], key: "swarmRedisUrls", usage: "comma-separated Redis shards: HOST:PORT, redis://[USER@]HOST:PORT[/DB] or rediss:// for TLS; keys are spread by consistent hashing" },
  { name: "swarm-redis-password", kind: "string", default: "", key: "swarmRedisPassword", usage: "file holding the Redis password (read at start; never the password itself, which ps would show)" },
  { name: "swarm-redis-ca-file", kind: "string", default: "", key: "swarmRedisCaFile", usage: "PEM CA bundle that verifies rediss:// shards; empty: the system's CAs" },
  { name: "swarm-redis-dial-timeout", kind: "duration", default: "25ms", key: "swarmRedisDialTimeout", usage: "time to connect to a Redis shard" },
  { name: "swarm-redis-read-timeout", kind: "duration", default: "25ms", key: "swarmRedisReadTimeout", usage: "time a Redis call may take; then the request is decided without Redis" },
  { name: "cluster-ratelimit-fail-closed", kind: "bool", default: false, key: "clusterRatelimitFailClosed", usage: "when Redis cannot answer, refuse with 503 instead of letting the local limit decide" },

  // secrets
  { name: "credentials-paths", kind: "list", default: [], key: "credentialsPaths", usage: "comma-separated files and directories of secrets for bearerinjector; each must exist at start" },
  { name: "credentials-update-interval", kind: "duration", default: "10m", key: "credentialsUpdateInterval", usage: "how often secrets are re-read (file changes are also picked up at once); <= 0 means 10m" },

  // forward proxy and egress
  { name: "forward-address", kind: "string", default: "", key: "forwardAddress", usage: "TCP address of the forward proxy port (http_proxy and https_proxy/CONNECT clients); empty disables it" },
  { name: "connect-ports", kind: "list", default: ["443"], key: "connectPorts", usage: "comma-separated ports CONNECT may reach; any other is refused with 403" },
  { name: "forward-head-timeout", kind: "duration", default: "10s", key: "forwardHeadTimeout", usage: "how long a client of the forward port has to send a complete request head (then 408)" },
  { name: "forward-auth-file", kind: "string", default: "", key: "forwardAuthFile", usage: "htpasswd `file` (bcrypt or argon2 hashes) the forward port checks Proxy-Authorization against (else 407); re-read on change" },
  { name: "egress-allow", kind: "list", default: [], key: "egressAllow", usage: "comma-separated destinations clients may choose: host, *.domain, host:port, IP or CIDR; with an allow list anything else is denied" },
  { name: "egress-deny", kind: "list", default: [], key: "egressDeny", usage: "comma-separated destinations clients may not choose, as -egress-allow; deny wins over allow" },
  { name: "egress-allow-file", kind: "string", default: "", key: "egressAllowFile", usage: "`file` of -egress-allow entries, one a line, # comments; re-read on change" },
  { name: "egress-deny-file", kind: "string", default: "", key: "egressDenyFile", usage: "`file` of -egress-deny entries, one a line, # comments; re-read on change" },
  { name: "egress-roles-file", kind: "string", default: "", key: "egressRolesFile", usage: "`file` of per-client egress roles ([role] sections chosen by the client certificate's CN or SAN, or the proxy user; a required [default]); re-read on change" },
  { name: "egress-mode", kind: "string", default: "enforce", key: "egressMode", usage: "enforce, or report: a destination the allow and deny rules refuse is let through, logged as would-deny and counted; the private-address guard still refuses (a mode line in a role of -egress-roles-file wins for it)" },
  { name: "egress-allow-private", kind: "bool", default: false, key: "egressAllowPrivate", usage: "let client-chosen destinations reach private and other special-purpose addresses (loopback, RFC 1918, link-local, ...)" },
  { name: "dns-servers", kind: "list", default: [], key: "dnsServers", usage: "comma-separated DNS servers (ip, ip:port, [v6]:port) for client-chosen names; empty uses the system's" },
  { name: "dns-lookup-family", kind: "string", default: "any", key: "dnsLookupFamily", usage: "records a client-chosen name resolves to: any, v4 or v6 (Envoy's AUTO, V4_ONLY, V6_ONLY too)" },
  { name: "dns-min-ttl", kind: "duration", default: "1s", key: "dnsMinTtl", usage: "shortest time a DNS answer is cached, whatever its TTL says" },
  { name: "dns-max-ttl", kind: "duration", default: "5m", key: "dnsMaxTtl", usage: "longest time a DNS answer is cached, whatever its TTL says" },
  { name: "dns-timeout", kind: "duration", default: "5s", key: "dnsTimeout", usage: "how long a DNS lookup may take (then 504 dns-timeout)" },

  // TLS doors
  { name: "sni-address", kind: "string", default: "", key: "sniAddress", usage: "TCP address of the SNI port: TLS redirected to it (nftables/iptables) is forwarded by its ClientHello's server name, under the egress policy; empty disables it" },
  { name: "sni-upstream-port", kind: "int", default: 443, key: "sniUpstreamPort", usage: "port the SNI port dials on the named host" },
  { name: "egress-suffix", kind: "string", default: ".egress.local", key: "egressSuffix", usage: "http://HOST<suffix>/path on -address and the forward port is sent to https://HOST/path, verified against HOST; empty disables it" },
  { name: "tls-cert", kind: "string", default: "", key: "tlsCert", usage: "PEM certificate (chain) -address and the forward port serve TLS with; re-read when it changes" },
  { name: "tls-key", kind: "string", default: "", key: "tlsKey", usage: "PEM private key of -tls-cert" },
  { name: "tls-client-ca", kind: "string", default: "", key: "tlsClientCa", usage: "PEM CA bundle client certificates are verified against (with -tls-client-auth)" },
  { name: "tls-client-auth", kind: "string", default: "none", key: "tlsClientAuth", usage: "client certificates on the TLS listeners: none, request or require" },
  { name: "tls-handshake-timeout", kind: "duration", default: "10s", key: "tlsHandshakeTimeout", usage: "how long a client of a TLS listener has to complete its handshake" },
  { name: "intercept-ca-cert", kind: "string", default: "", key: "interceptCaCert", usage: "PEM CA certificate that signs the leaf certificates of intercepted CONNECT hosts (sallyport ca init DIR makes one)" },
  { name: "intercept-ca-key", kind: "string", default: "", key: "interceptCaKey", usage: "PEM private key of -intercept-ca-cert; never logged" },
  { name: "intercept-hosts", kind: "list", default: [], key: "interceptHosts", usage: "CONNECT destinations whose TLS is terminated so routes apply inside (host, *.domain, host:port, as -egress-allow); other tunnels stay blind" },

  // server
  { name: "idle-timeout-server", kind: "duration", default: "60s", key: "idleTimeoutServer", usage: "how long an idle client keep-alive connection stays open" },
  { name: "read-timeout-server", kind: "duration", default: "0", key: "readTimeoutServer", usage: "maximum time for a client to send its whole request body; 0 means no limit" },
  { name: "wait-for-healthcheck-interval", kind: "duration", default: "0", key: "waitForHealthcheckInterval", usage: "after SIGTERM, how long /readyz says 503 before the listeners stop accepting (Kubernetes: a few readiness periods); Skipper's default is 45s" },
  { name: "workers", kind: "int", default: 0, key: "workers", usage: "processes serving the ports together (SO_REUSEPORT), started and restarted by this one, which serves -support-listener; 0 is one per core (CPU affinity, lowered to the cgroup's CPU quota)" },
  { name: "shutdown-timeout", kind: "duration", default: "30s", key: "shutdownTimeout", usage: "after SIGTERM, how long in-flight requests and open tunnels may take to finish before their connections are closed" },

  // logging
  { name: "application-log-level", kind: "string", default: "INFO", key: "applicationLogLevel", usage: "application log level: panic, fatal, error, warn, info, debug or trace" },
  { name: "application-log-json-enabled", kind: "bool", default: false, key: "applicationLogJsonEnabled", usage: "write the application log as logrus JSON lines ({level, msg, time}) instead of text" },
  { name: "access-log", kind: "string", default: "", key: "accessLog", usage: "file the access log is appended to (reopened on SIGUSR1, for logrotate); empty: stderr" },
  { name: "access-log-disabled", kind: "bool", default: false, key: "accessLogDisabled", usage: "write no access log" },
  { name: "access-log-json-enabled", kind: "bool", default: false, key: "accessLogJsonEnabled", usage: "write the access log as JSON lines (Skipper's keys) instead of the combined format" },
  { name: "access-log-strip-query", kind: "bool", default: true, key: "accessLogStripQuery", usage: "leave query strings out of the access log (they may carry credentials); -access-log-strip-query=false keeps them" },
  { name: "egress-log-level", kind: "string", default: "info", key: "egressLogLevel", usage: "level of the egress decision lines: denials are logged at it, allowed destinations one level below (debug for info)" },

  // metrics
  { name: "enable-prometheus-metrics", kind: "bool", default: false, unwired: "/metrics is always in the Prometheus text format", usage: "Skipper's switch to Prometheus metrics; accepted, /metrics on -support-listener is always Prometheus text" },
  { name: "metrics-max-hosts", kind: "int", default: 1000, key: "metricsMaxHosts", usage: "most destination hosts with series of their own in /metrics; later ones are counted as host=\"other\"" },

  // actions: no config key
  { name: "version", kind: "bool", default: false, usage: "print the version and exit" },
];

/** The flag whose value lands in config field `key`, for naming it in error messages. */
export function flagForKey(key: string): ServeFlag | undefined {
  return SERVE_FLAGS.find((flag) => flag.key === key);
}

/** Collects the keyed flag values, and the unwired flags given, into the (not yet validated) config input. */
export function configInput(parsed: ParsedFlags): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  for (const flag of SERVE_FLAGS) {
    if (flag.key !== undefined) input[flag.key] = parsed.values.get(flag.name);
  }
  // Names only: their values change nothing, the start just has to say which were given.
  input.unwiredFlags = SERVE_FLAGS.filter((flag) => flag.unwired !== undefined && parsed.given.has(flag.name)).map((flag) => flag.name);
  return input;
}

/**
 * What the start must tell the operator about the command line: that -insecure is on,
 * and one line per flag given that does nothing here. The entry point logs each as a warning.
 */
export function startupWarnings(config: Pick<Config, "insecure" | "unwiredFlags" | "enableTcpQueue" | "maxTcpListenerConcurrency">): string[] {
  const warnings = config.unwiredFlags.map((name) => {
    const note = SERVE_FLAGS.find((flag) => flag.name === name)?.unwired ?? NO_EFFECT;
    return `flag -${name} is accepted for Skipper compatibility but ${note}`;
  });
  // As in Skipper, the limits apply only under the queue; one set alone is a mistake worth saying.
  if (config.enableTcpQueue !== config.maxTcpListenerConcurrency > 0) {
    warnings.push(config.enableTcpQueue ? "-enable-tcp-queue without -max-tcp-listener-concurrency: no limit" : "-max-tcp-listener-concurrency has no effect without -enable-tcp-queue");
  }
  if (config.insecure) warnings.unshift("-insecure: TLS certificates of backends are not verified");
  return warnings;
}
