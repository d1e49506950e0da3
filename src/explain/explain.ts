/**
 * @module
 * What sallyport would do with a request, without sending anything: the route that would match
 * and, for every route before it, the first predicate that did not; the filters that would run
 * and the headers they would set; where the request would go; the egress decision on a
 * destination the client chose, with the DNS answers it used; the breaker and rate-limit
 * settings that would apply. The same walk serving does (the routing table, the filters, the
 * dial plan), on registries that touch nothing real (./world.ts).
 */
import { printCall } from "../eskip/print.ts";
import type { RouteDef } from "../eskip/ast.ts";
import { createDialPlan } from "../egress/dial.ts";
import { ProxyError } from "../exchange/errors.ts";
import type { BreakerSettings } from "../circuit/settings.ts";
import { BREAKER_SETTINGS } from "../exchange/keys.ts";
import type { EgressVerdict } from "../exchange/record.ts";
import type { RequestState } from "../exchange/state.ts";
import { Unsent } from "../exchange/unsent.ts";
import { parseAuthority } from "../net/host-port.ts";
import { parseNumericHost } from "../net/numeric-host.ts";
import { dynamicOrigin, Pass } from "../proxy/pipeline.ts";
import { MatchView } from "../proxy/request.ts";
import { buildTable } from "../routing/build.ts";
import { fallbackRoutes } from "../routing/fallback.ts";
import { decodePath, InvalidEscapeError, splitTarget } from "../util/url-path.ts";
import type { ExplainWorld, LimitAsked } from "./world.ts";

export type Via = "forward" | "address" | "sni";

export interface ExplainRequest {
  readonly method: string;
  /** an absolute URL; for CONNECT `host:port`; for `via: "sni"` the server name */
  readonly target: string;
  readonly headers: readonly (readonly [string, string])[];
  /** the client's address */
  readonly client: string;
  /** the client certificate's common name, for roles */
  readonly identity?: string | undefined;
  /** the forward port's proxy user, for roles */
  readonly user?: string | undefined;
  readonly via: Via;
  /** false: names are not resolved (`--no-dns`), and only name rules decide */
  readonly dns: boolean;
  /** fixed DNS answers for this request's name (test-policy's `resolving`), instead of asking */
  readonly resolving?: readonly string[] | undefined;
}

export interface RouteStep {
  readonly id: string;
  readonly where: string | undefined;
}

export interface Explanation {
  readonly request: ExplainRequest;
  /** how the request reaches sallyport, in words: `a tunnel (CONNECT api.github.com:443)` */
  readonly kind: string;
  readonly route?: RouteStep & { readonly filters: readonly string[] };
  /** routes before it that did not match, with the predicate that failed (or why another won) */
  readonly skipped: readonly (RouteStep & { readonly because: string })[];
  readonly headers: readonly string[];
  /** where it goes: a backend written in the route, or the client's choice */
  readonly backend?: string;
  /** answered without a backend (a shunt, a filter that serves) */
  readonly served?: string;
  readonly egress?: EgressVerdict & { readonly destination: string; readonly addresses: readonly string[] | undefined; readonly dial?: string | undefined; readonly refusal?: string | undefined; readonly note?: string | undefined };
  readonly breaker?: string;
  readonly ratelimits: readonly string[];
  /** the outcome in one word and a reason: what test-policy compares */
  readonly verdict: { readonly allowed: boolean; readonly reason: string; readonly status?: number | undefined };
}

const RATELIMIT_FILTERS = new Set(["ratelimit", "clientRatelimit", "clusterRatelimit", "clusterClientRatelimit"]);
const CREDENTIAL_HEADERS = new Set(["authorization", "proxy-authorization", "cookie"]);

export async function explain(world: ExplainWorld, request: ExplainRequest): Promise<Explanation> {
  const ratelimits = world.globalRatelimit ? [`-ratelimits ${world.globalRatelimit} (before routing)`] : [];
  const base = { request, skipped: [], headers: [], ratelimits };
  if (request.via === "sni") {
    const decided = await decide(world, request, request.target, world.sniUpstreamPort);
    // The SNI port speaks no HTTP to the client: a refusal is a TLS alert.
    const egress = decided.refusal ? { ...decided, refusal: `a TLS alert, then the connection is closed (${decided.reason})` } : decided;
    return { ...base, kind: `a TLS connection to the SNI port naming ${request.target}, piped to port ${world.sniUpstreamPort}`, egress, verdict: verdictOf(egress) };
  }
  const url = request.method === "CONNECT" ? undefined : new URL(request.target);
  if (request.via === "forward" && (request.method === "CONNECT" || url?.protocol === "https:")) {
    const authority = url ? `${url.hostname}:${url.port || 443}` : request.target;
    const parsed = parseAuthority(authority);
    if (typeof parsed === "string") return { ...base, kind: `CONNECT ${authority}`, verdict: { allowed: false, reason: "bad-request", status: 400 } };
    const intercepted = world.intercepts(parsed.host, parsed.port);
    // An intercepted tunnel's requests go through the routes as https, pinned to the CONNECT's authority.
    if (intercepted && url && world.connectPorts.has(parsed.port)) return routed(world, request, url, ratelimits, `an https_proxy request to ${authority}, intercepted (-intercept-hosts): ${request.method} ${url.href} through the routes`);
    const kind = intercepted ? `a tunnel (CONNECT ${authority}), intercepted (-intercept-hosts): the requests inside go through the routes as https` : `a tunnel (CONNECT ${authority}); routes do not see inside it unless -intercept-hosts names the host`;
    if (!world.connectPorts.has(parsed.port)) return { ...base, kind, verdict: { allowed: false, reason: "connect-port-denied", status: 403 } };
    const egress = await decide(world, request, parsed.host, parsed.port);
    return { ...base, kind, egress, verdict: verdictOf(egress) };
  }
  return routed(world, request, url!, ratelimits);
}

/** A request that goes through the routes: `-address`, or plain HTTP on the forward port. */
async function routed(world: ExplainWorld, request: ExplainRequest, url: URL, ratelimits: string[], about?: string): Promise<Explanation> {
  const headers = new Headers(request.headers as [string, string][]);
  // On the forward port the target's authority wins over Host; on -address Host is the target.
  const host = request.via === "forward" ? url.host : (headers.get("host") ?? url.host);
  headers.delete("host");
  const { path: rawPath, rawQuery } = splitTarget(url.pathname + url.search);
  const decoded = decodedOrUndefined(rawPath);
  if (decoded === undefined) return { request, kind: `${request.method} ${url.href}`, skipped: [], headers: [], ratelimits, verdict: { allowed: false, reason: "bad-request", status: 400 } };
  const state: RequestState = { method: request.method, path: decoded, rawQuery, headers, host, peer: request.client, scheme: url.protocol === "https:" ? "https" : "http", rawPath, decodedPath: decoded };
  const kind = about ?? (request.via === "forward" ? `an http_proxy request on the forward port (${request.method} ${url.href})` : `a request on -address (${request.method} ${url.pathname}${url.search}, Host ${host})`);

  const defs = [...world.defs, ...fallbackRoutes({ egressSuffix: world.egressSuffix, forward: request.via === "forward" })];
  const table = buildTable(defs, world.registries);
  const match = table.match(new MatchView(state));
  const skipped: (RouteStep & { because: string })[] = [];
  for (const def of defs) {
    if (def.id === match?.value.id) break;
    skipped.push({ id: def.id, where: whereOf(world, def), because: whyNot(world, def, state) ?? `it matches too, but route ${match?.value.id ?? "?"} comes first (a more specific path, or more weight)` });
  }
  if (!match) return { request, kind, skipped, headers: [], ratelimits, verdict: { allowed: false, reason: "no-route", status: 404 } };

  const route = match.value;
  const filters = route.def.filters.map(printCall);
  const before = snapshot(headers);
  const pass = new Pass(state, match.params, new Unsent());
  // What each rate-limit filter asked its limiter: the note its request half left, if any (none without a key).
  const limitsAsked = new Map<number, LimitAsked>();
  let ran = 0;
  for (; ran < route.filters.length && !pass.served; ran++) {
    world.limitsAsked.length = 0;
    await route.filters[ran]!.filter.request?.(pass);
    const asked = world.limitsAsked[0];
    if (asked) limitsAsked.set(ran, asked);
  }
  // A served answer goes back through the response halves that ran, as serving does (status() sets it there).
  if (pass.served) {
    pass.response = pass.served;
    for (let i = ran - 1; i >= 0; i--) await route.filters[i]!.filter.response?.(pass);
  }
  for (const [index, call] of route.def.filters.entries()) {
    if (RATELIMIT_FILTERS.has(call.name)) ratelimits.push(`${printCall(call)} on route ${route.id}: ${await limitState(world, limitsAsked.get(index))}`);
  }
  const step = { id: route.id, where: whereOf(world, route.def), filters };
  const changes = headerChanges(before, headers);
  const breakerSettings = pass.state.get(BREAKER_SETTINGS);
  const breaker = (where: string) => {
    const settings = breakerSettings ? `the route's, ${describeBreaker(breakerSettings)}` : world.breakerFlags.length > 0 ? `-breaker ${world.breakerFlags.join(" -breaker ")}` : "none";
    if (!world.breakerState || settings === "none") return `${where}: ${settings}`;
    return `${where}: ${settings}; now ${world.breakerState(where) ?? "none yet (no request to it since the start)"}`;
  };
  const common = { request, kind, route: step, skipped, headers: changes, ratelimits };
  if (pass.response) return { ...common, served: `by the route's filters: ${pass.response.status}`, verdict: { allowed: true, reason: "served", status: pass.response.status } };
  const backend = route.backend;
  switch (backend.type) {
    case "shunt":
      return { ...common, served: "by the route (<shunt>): 404 unless a filter sets the status", verdict: { allowed: true, reason: "shunt", status: 404 } };
    case "loopback":
      return { ...common, backend: "<loopback>: routed again with what the filters changed", verdict: { allowed: true, reason: "loopback" } };
    case "network":
      return { ...common, backend: `${backend.origin.scheme}://${backend.origin.host} (written in the route: trusted, no egress check)`, breaker: breaker(backend.origin.key), verdict: { allowed: true, reason: "route-backend" } };
    case "lb":
      return { ...common, backend: "a load-balanced group written in the route (trusted, no egress check)", verdict: { allowed: true, reason: "route-backend" } };
    case "dynamic": {
      let origin;
      try {
        origin = dynamicOrigin(pass, world.egressSuffix || undefined);
      } catch (err) {
        const failure = err as ProxyError;
        return { ...common, backend: "<dynamic>", verdict: { allowed: false, reason: failure.reason ?? "bad-request", status: failure.status } };
      }
      const target = parseAuthority(origin.key);
      if (typeof target === "string") return { ...common, backend: `<dynamic> → ${origin.key}`, verdict: { allowed: false, reason: "bad-request", status: 400 } };
      const egress = await decide(world, request, target.host, target.port);
      return { ...common, backend: `<dynamic> → ${origin.scheme}://${origin.host}`, egress, breaker: breaker(origin.key), verdict: verdictOf(egress) };
    }
  }
}

const whereOf = (world: ExplainWorld, def: RouteDef) => world.where(def) ?? (def.id === "forward_fallback" || def.id === "egress_suffix" ? "built in" : undefined);

/**
 * The first predicate of `def` that does not hold for the request: the route built with its
 * first 1, 2, … predicates (and nothing else, so no filter is made) until it stops matching.
 * Undefined when every predicate holds.
 */
function whyNot(world: ExplainWorld, def: RouteDef, state: RequestState): string | undefined {
  for (let n = 1; n <= def.predicates.length; n++) {
    const partial: RouteDef = { id: def.id, predicates: def.predicates.slice(0, n), filters: [], backend: { type: "shunt" } };
    const table = buildTable([partial], world.registries);
    if (table.problems.length > 0) return `it is invalid: ${table.problems[0]!.message}`;
    if (!table.match(new MatchView(state))) return `${printCall(def.predicates[n - 1]!)} does not match`;
  }
  return undefined;
}

/** The egress decision on a destination the client chose, through the dial plan serving uses. */
async function decide(world: ExplainWorld, request: ExplainRequest, host: string, port: number): Promise<NonNullable<Explanation["egress"]>> {
  const read = parseNumericHost(host);
  // A numeric host is its own only address (../egress/dial.ts); a name's come from the resolver.
  let addresses: readonly string[] | undefined = read.kind === "ip" ? [read.address] : undefined;
  const resolver = {
    resolve: async (name: string) => {
      addresses = request.resolving ?? (request.dns ? await world.resolve(name) : undefined);
      if (addresses === undefined) throw new NotResolved();
      return { addresses, ttl: 0, fromCache: false };
    },
  };
  const identity = request.identity === undefined ? undefined : { subject: `CN=${request.identity}`, commonName: request.identity, sans: [] };
  const plan = createDialPlan({ policy: (client) => world.policyFor(client), resolver });
  const record: { egress: EgressVerdict | undefined } = { egress: undefined };
  const destination = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  try {
    const dial = await plan.dial({ host, port, client: request.client, user: request.user, identity, record });
    return { ...record.egress!, destination, addresses, dial: dial.address };
  } catch (err) {
    if (err instanceof NotResolved) {
      return { allowed: true, reason: "not-resolved", destination, addresses: undefined, note: "the name rules let it through; the addresses it resolves to were not checked (--no-dns)" };
    }
    const failure = err instanceof ProxyError ? err : new ProxyError(500, "internal", String(err));
    const verdict = record.egress ?? { allowed: false, reason: failure.reason };
    return { ...verdict, allowed: false, destination, addresses, refusal: `${failure.status} ${failure.reason}: ${failure.message}` };
  }
}

class NotResolved extends Error {}

/** The path decoded once, as serving decodes it; undefined for a broken escape (serving's 400). */
function decodedOrUndefined(rawPath: string): string | undefined {
  try {
    return decodePath(rawPath);
  } catch (err) {
    if (err instanceof InvalidEscapeError) return undefined;
    throw err;
  }
}

function verdictOf(egress: NonNullable<Explanation["egress"]>): Explanation["verdict"] {
  if (egress.allowed) return { allowed: true, reason: egress.wouldDeny ? `would-deny ${egress.wouldDeny.reason}` : egress.reason };
  const status = Number(egress.refusal?.slice(0, 3));
  return { allowed: false, reason: egress.reason, status: Number.isInteger(status) && status > 0 ? status : undefined };
}

/** What the limiter holds for this request's key: live on a running proxy, unknown offline. */
async function limitState(world: ExplainWorld, asked: LimitAsked | undefined): Promise<string> {
  if (!asked) return "not counted (the request has none of its key headers)";
  const live = world.liveLimiter?.(asked.name);
  if (!world.liveLimiter) return `up to ${asked.max} a window (no live counts offline)`;
  if (!live) return `0 of ${asked.max} in the window: no request counted yet`;
  return `${await live.peek(asked.key)} of ${asked.max} in the window, for this request's key`;
}

/** `consecutive, 5 failures, open 30000 ms`: what is set, in the filter's terms. */
export function describeBreaker(settings: BreakerSettings): string {
  const parts: string[] = [settings.type];
  if (settings.failures) parts.push(`${settings.failures} failures${settings.window ? ` in the last ${settings.window}` : ""}`);
  if (settings.timeout) parts.push(`open ${settings.timeout} ms`);
  if (settings.halfOpenRequests) parts.push(`${settings.halfOpenRequests} half-open probes`);
  return parts.join(", ");
}

const snapshot = (headers: Headers) => new Map([...headers].map(([name, value]) => [name, value]));

/** What the filters set or removed; a credential the client sent is never printed. */
function headerChanges(before: ReadonlyMap<string, string>, after: Headers): string[] {
  const shown = (name: string, value: string) => (CREDENTIAL_HEADERS.has(name) && !value.includes("<secret ") ? "<redacted>" : value);
  const lines: string[] = [];
  for (const [name, value] of after) if (before.get(name) !== value) lines.push(`set ${name}: ${shown(name, value)}`);
  for (const name of before.keys()) if (!after.has(name)) lines.push(`removed ${name}`);
  return lines;
}
