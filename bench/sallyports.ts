/**
 * @module
 * The sallyports under test: the routed hot path (plain, with the features of scenario 3, and
 * with a local or a cluster rate limit for scenario 3b), the forward port, and route tables of
 * many Host routes that can be rewritten for a reload.
 * Each runs as the binary under test (`--bin`, else dist/sallyport) on loopback ports of its own;
 * the setup texts say `sallyport` for whichever binary that is (the run's facts name it).
 */
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "./procs.ts";
import { absoluteForm, AUTH_VALUE, dirFor, probe, ROUTED_HOST, SMALL_PATH, start, type Target } from "./servers.ts";

/**
 * `-address` and, when wanted, a support listener on free loopback ports (never :9090 and :9911),
 * and one process (`-workers 1`), as the other contenders run one worker; a later `-workers`
 * in a contender's own flags wins.
 */
function ports(support: boolean): { port: number; support?: number; args: string[] } {
  const port = freePort();
  const oneWorker = ["-workers", "1"];
  if (!support) return { port, args: [...oneWorker, "-address", `127.0.0.1:${port}`, "-support-listener", ""] };
  const s = otherFreePort([port]);
  return { port, support: s, args: [...oneWorker, "-address", `127.0.0.1:${port}`, "-support-listener", `127.0.0.1:${s}`] };
}

/** A free port other than `taken` (freePort releases its port at once, so two calls may agree). */
export function otherFreePort(taken: number[]): number {
  for (;;) {
    const port = freePort();
    if (!taken.includes(port)) return port;
  }
}

/** The route of the routed path, as the issue names it. */
export function routedRoute(upstreamPort: number, extraFilters = ""): string {
  return `bench: Host("${ROUTED_HOST}") -> setRequestHeader("Authorization", "${AUTH_VALUE}")${extraFilters} -> "http://127.0.0.1:${upstreamPort}"`;
}

/** Shell-quoted for the setup texts, as a person would paste it. */
const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** Flags as a command line in the setup texts: an empty value shows as `""`. */
const shown = (flags: readonly string[]) => flags.map((a) => (a === "" ? '""' : a)).join(" ");

/** Replaces `file` at once (written to `staging`, then renamed over it): a reader sees the old text or the new, never half of one. */
export function replaceFile(file: string, text: string, staging = `${file}.tmp`): void {
  writeFileSync(staging, text);
  renameSync(staging, file);
}

/**
 * The routed hot path as the comparisons run it: the issue's route, no access log and no support
 * listener (nginx and haproxy log nothing either; scenario 3 measures what those cost).
 * `extraRoutes` are added after it (scenario 4's upload route).
 */
export async function startSallyportRouted(root: string, bin: string, upstreamPort: number, opts: { tag?: string; name?: string; extraRoutes?: string; flags?: readonly string[] } = {}): Promise<Target> {
  const dir = dirFor(root, `sallyport${opts.tag ?? ""}`);
  const p = ports(false);
  const routes = routedRoute(upstreamPort) + (opts.extraRoutes ? `; ${opts.extraRoutes}` : "");
  const flags = [...p.args, "-access-log-disabled", ...(opts.flags ?? []), "-inline-routes", routes];
  return start("sallyport", [bin, ...flags], dir, {
    name: opts.name ?? "sallyport",
    setup: `\`sallyport ${shown(flags.slice(0, -1))} ${q(routes)}\``,
    url: `http://127.0.0.1:${p.port}`,
    host: ROUTED_HOST,
  });
}

/**
 * Scenario 3's "on": the same route and flags plus everything a deployment turns on — the access
 * log (to stderr, the default, which the bench sends to the server's log file), /metrics on a
 * support listener, a secret injected by bearerinjector from a `-credentials-paths` file, a
 * consecutiveBreaker and a clientRatelimit that never trips. After each measurement /metrics is
 * read, so a run where the features were not really on cannot pass unnoticed.
 */
export async function startSallyportFeatures(root: string, bin: string, upstreamPort: number): Promise<Target> {
  const dir = dirFor(root, "sallyport-features");
  const secret = join(dir, "token");
  writeFileSync(secret, "bench-secret-token\n");
  const p = ports(true);
  const route = routedRoute(upstreamPort, ` -> bearerinjector("${secret}") -> consecutiveBreaker(5) -> clientRatelimit(1000000, "1s")`);
  const flags = [...p.args, "-credentials-paths", secret, "-inline-routes", route];
  const supportUrl = `http://127.0.0.1:${p.support}`;
  return start("sallyport (features on)", [bin, ...flags], dir, {
    name: "sallyport, features on",
    setup: `\`sallyport ${flags.slice(0, -1).join(" ").replace(secret, "TOKEN_FILE")} ${q(route.replace(secret, "TOKEN_FILE"))}\` (TOKEN_FILE: a file holding the token); access log on (stderr, combined format), /metrics on the support listener`,
    url: `http://127.0.0.1:${p.port}`,
    host: ROUTED_HOST,
    check: () => metricsCounted(supportUrl),
  });
}

/** /metrics answers and has counted requests of the bench route. */
async function metricsCounted(supportUrl: string): Promise<string[]> {
  const r = await probe({ url: supportUrl }, "/metrics").catch(() => undefined);
  const text = r ? new TextDecoder().decode(r.body) : "";
  return r?.status === 200 && /^sallyport_requests_total\{[^}]*route="bench"[^}]*\} [1-9]/m.test(text) ? [] : ["/metrics did not count the bench route's requests"];
}

/** A metric's samples summed over their labels (0 when absent), from /metrics text. */
export function metricSum(text: string, name: string): number {
  const re = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "gm");
  let sum = 0;
  for (const m of text.matchAll(re)) sum += Number(m[1]);
  return sum;
}

/** What the cluster rate limit counted so far, from /metrics. */
export interface ClusterCounts {
  /** Redis calls answered: sallyport_redis_call_duration_seconds_count */
  readonly calls: number;
  /** their summed duration, seconds */
  readonly callSeconds: number;
  /** Redis calls that got no answer: sallyport_redis_errors_total */
  readonly callErrors: number;
  /** decisions made without Redis: sallyport_cluster_ratelimit_unavailable_total, fail_open + fail_closed */
  readonly unavailable: number;
}

export async function clusterCounts(supportUrl: string): Promise<ClusterCounts> {
  const r = await probe({ url: supportUrl }, "/metrics");
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
  const text = new TextDecoder().decode(r.body);
  if (!/^sallyport_cluster_ratelimit_unavailable_total\{/m.test(text)) throw new Error("/metrics has no sallyport_cluster_ratelimit_unavailable_total: is -enable-swarm on?");
  return {
    calls: metricSum(text, "sallyport_redis_call_duration_seconds_count"),
    callSeconds: metricSum(text, "sallyport_redis_call_duration_seconds_sum"),
    callErrors: metricSum(text, "sallyport_redis_errors_total"),
    unavailable: metricSum(text, "sallyport_cluster_ratelimit_unavailable_total"),
  };
}

/** A sallyport of scenario 3b, with the URL of its support listener. */
export interface RatelimitProxy extends Target {
  readonly supportUrl: string;
}

/**
 * Scenario 3b: the routed path of scenario 1 with a rate limit that never trips, kept in this
 * process (`ratelimit(1000000, "1s")`) or, with `redis` given, in Redis (`-enable-swarm
 * -swarm-redis-urls` and `clusterRatelimit("bench", 1000000, "1s")`: one script call per request).
 * Both have /metrics on a support listener (without one sallyport counts nothing, so the two stay
 * alike but for the limit) and no access log. After each measurement /metrics is read: the route
 * must have counted requests, and the cluster one must have made Redis calls and no decision
 * without Redis (a fail-open decision is the local limit's, so the row would not measure Redis).
 */
export async function startSallyportRatelimit(root: string, bin: string, upstreamPort: number, name: string, redis?: { address: string }): Promise<RatelimitProxy> {
  const dir = dirFor(root, redis ? "sallyport-cluster-ratelimit" : "sallyport-local-ratelimit");
  const p = ports(true);
  const filter = redis ? `clusterRatelimit("bench", 1000000, "1s")` : `ratelimit(1000000, "1s")`;
  const route = routedRoute(upstreamPort, ` -> ${filter}`);
  const swarm = redis ? ["-enable-swarm", "-swarm-redis-urls", redis.address] : [];
  const flags = [...p.args, "-access-log-disabled", ...swarm, "-inline-routes", route];
  const supportUrl = `http://127.0.0.1:${p.support}`;
  let calls = 0;
  const check = async (): Promise<string[]> => {
    const problems = await metricsCounted(supportUrl);
    if (!redis) return problems;
    const c = await clusterCounts(supportUrl).catch((e: Error) => e);
    if (c instanceof Error) return [...problems, `/metrics: ${c.message}`];
    if (c.calls <= calls) problems.push("no Redis calls counted during the run");
    if (c.unavailable > 0) problems.push(`${c.unavailable} cluster rate-limit decisions made without Redis so far (sallyport_cluster_ratelimit_unavailable_total): the measurement is invalid`);
    calls = c.calls;
    return problems;
  };
  const t = await start(`sallyport (${redis ? "cluster" : "local"} ratelimit)`, [bin, ...flags], dir, {
    name,
    setup: `\`sallyport ${shown(flags.slice(0, -1).map((a) => (a === redis?.address ? "127.0.0.1:REDIS_PORT" : a)))} ${q(route)}\`, /metrics on the support listener${redis ? " (REDIS_PORT: the redis-server's)" : ""}`,
    url: `http://127.0.0.1:${p.port}`,
    host: ROUTED_HOST,
    check,
  });
  return { ...t, supportUrl };
}

/**
 * The forward port of a sallyport without routes: every request reaches the built-in fallback,
 * which forwards it to the destination the client asked for, under the egress policy.
 * `-egress-allow 127.0.0.1` opens the private-address guard for the loopback upstream, and
 * `-connect-ports` lets CONNECT tunnels reach its port (only 443 by default); -address (the
 * reverse-proxy port, unused here) gets a loopback port of its own rather than :9090.
 * The access log stays off as in the routed comparisons (squid and tinyproxy log nothing here).
 */
export async function startSallyportForward(root: string, bin: string, upstream: Target): Promise<Target> {
  const dir = dirFor(root, "sallyport-forward");
  const upstreamPort = new URL(upstream.url).port;
  const p = ports(false);
  const forward = otherFreePort([p.port]);
  const flags = [...p.args, "-access-log-disabled", "-forward-address", `127.0.0.1:${forward}`, "-egress-allow", "127.0.0.1", "-connect-ports", upstreamPort];
  return start("sallyport forward port", [bin, ...flags], dir, {
    name: "sallyport forward port",
    setup: `\`sallyport ${shown(flags)}\`, no routes (the built-in fallback forwards to the requested destination); wrk sends ${absoluteForm(upstream)} to the forward port`,
    url: upstream.url,
    proxy: `http://127.0.0.1:${forward}`,
  });
}

/** A sallyport serving a routes file that the bench rewrites to measure reloads. */
export interface RouteTable extends Target {
  readonly count: number;
  readonly file: string;
  /** rewrites the file with route r0 answering `host` instead, atomically (write + rename) */
  rewrite(host: string): void;
}

/**
 * `count` Host routes in a -routes-file, and requests name the last one: the host index should
 * make it as cheap as a table of ten. `dot` is how the routes escape the dots of the name: `[.]`
 * (the spelling of the README and of Skipper's docs) or `\.`. The readiness probe also checks
 * that an unknown host gets 404, so a table that matched everything would not pass unnoticed.
 * The file is not polled (-source-poll-timeout of an hour): reloads are asked for with SIGHUP,
 * so they start at a known moment, and idle contenders do not re-read big files meanwhile.
 */
export async function startSallyportRouteTable(root: string, bin: string, upstreamPort: number, count: number, dot: "[.]" | "\\." = "[.]"): Promise<RouteTable> {
  const tag = dot === "[.]" ? "" : "-backslash";
  const dir = dirFor(root, `sallyport-routes-${count}${tag}`);
  const file = join(dir, "routes.eskip");
  // In eskip's "…" strings a backslash is itself escaped.
  const eskipDot = dot.replaceAll("\\", "\\\\");
  const line = (i: number, host = `h${i}${eskipDot}example${eskipDot}com`) => `r${i}: Host("^${host}$") -> "http://127.0.0.1:${upstreamPort}";`;
  const text = (first?: string) => Array.from({ length: count }, (_, i) => line(i, i === 0 ? first : undefined)).join("\n") + "\n";
  writeFileSync(file, text());
  const p = ports(false);
  const host = `h${count - 1}.example.com`;
  const flags = [...p.args, "-access-log-disabled", "-source-poll-timeout", "3600000", "-routes-file", file];
  const name = `${count.toLocaleString("en-US")} routes${dot === "[.]" ? "" : " `\\.`"}`;
  const t = await start(`sallyport (${count} routes, ${dot})`, [bin, ...flags], dir, {
    name,
    setup: `\`sallyport ${shown(flags.slice(0, -1))} routes.eskip\`, ${count} lines \`${line(0).replace(/^r0:/, "rN:").replace("h0", "hN")}\`, requests send \`Host: ${host}\` (the last route)`,
    url: `http://127.0.0.1:${p.port}`,
    host,
  }, { readyMs: 180_000 });
  const miss = await probe({ url: t.url, host: "nope.example.com" }, SMALL_PATH);
  if (miss.status !== 404) throw new Error(`sallyport with ${count} routes answered ${miss.status} for an unknown host, expected 404`);
  return {
    ...t,
    count,
    file,
    rewrite(newHost) {
      replaceFile(file, text(newHost.replaceAll(".", eskipDot)));
    },
  };
}

/** The soak's sallyport, with the doors besides -address. */
export interface SoakProxy extends Target {
  readonly forwardPort: number;
  readonly supportUrl: string;
}

/**
 * The soak's sallyport (bench/soak.ts), every door open at once: -address serving the routes of a
 * -routes-file (polled every 3 s, the default), the forward port for absolute-form requests and
 * CONNECT to the upstream (`-egress-allow 127.0.0.1` opens the private-address guard for it and
 * `-connect-ports` its port), /metrics on a support listener, and the secrets of a
 * -credentials-paths directory, re-read on change and every 10 s as in the README's walkthrough.
 * No access log: millions of lines would measure the disk.
 */
export async function startSallyportSoak(root: string, bin: string, upstreamPort: number, files: { routes: string; secrets: string }, workers: number, host: string): Promise<SoakProxy> {
  const dir = dirFor(root, "sallyport-soak");
  const p = ports(true);
  const forwardPort = otherFreePort([p.port, p.support!]);
  const flags = [
    ...p.args,
    // after ports()' `-workers 1`, which it overrides
    ...(workers === 1 ? [] : ["-workers", String(workers)]),
    "-access-log-disabled",
    "-forward-address", `127.0.0.1:${forwardPort}`,
    "-egress-allow", "127.0.0.1",
    "-connect-ports", String(upstreamPort),
    "-credentials-paths", files.secrets,
    "-credentials-update-interval", "10s",
    "-routes-file", files.routes,
  ];
  const t = await start("sallyport (soak)", [bin, ...flags], dir, {
    name: "sallyport",
    setup: `\`sallyport ${shown(flags)}\``,
    url: `http://127.0.0.1:${p.port}`,
    host,
  });
  return { ...t, forwardPort, supportUrl: `http://127.0.0.1:${p.support}` };
}
