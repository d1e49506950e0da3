/**
 * @module
 * One pass of a request through the routing table: route → request filters → backend (breaker
 * gate, retries) → response filters, in reverse and only over those that ran. A `<loopback>`
 * backend starts another pass over the same request state.
 */
import type { BreakerRegistry } from "../circuit/registry.ts";
import { ProxyError, statusText } from "../exchange/errors.ts";
import { BACKEND_TIMEOUT, BREAKER_SETTINGS, DYNAMIC_TARGET, NO_RETRY, RETRY_POLICY } from "../exchange/keys.ts";
import type { ExchangeRecord } from "../exchange/record.ts";
import { clientAddress, StateBag, type RequestState, type ResponseState } from "../exchange/state.ts";
import type { Unsent } from "../exchange/unsent.ts";
import type { FilterContext } from "../filters/types.ts";
import { originOf, type Origin } from "../routing/origin.ts";
import type { RoutingTable } from "../routing/table.ts";
import type { BackendTarget } from "../routing/types.ts";
import type { WatchedStream } from "../util/stream.ts";
import type { DialPlan } from "../egress/dial.ts";
import { DEFAULT_PORT, isValidHost, parseHostPort } from "../net/host-port.ts";
import { parseNumericHost } from "../net/numeric-host.ts";
import { MatchView } from "./request.ts";
import { isReplayable, sendGuarded, type RetryDeps } from "./retry.ts";
import { authorityOf, type BodyWatch, type CheckedAddress } from "./upstream.ts";

/** Every proxy adds itself to Via; a request that already passed us this often is looping. */
export const VIA = "1.1 sallyport";

export interface PipelineOptions {
  /** -default-http-status */
  readonly defaultStatus: number;
  readonly maxLoopbacks: number;
  /** -proxy-preserve-host */
  readonly preserveHost: boolean;
  readonly breakers: BreakerRegistry;
  readonly retry: RetryDeps;
  /** the egress dial plan for `<dynamic>` destinations; without one they are dialed by name, unchecked */
  readonly dialPlan?: DialPlan | undefined;
  /** `-egress-suffix`: a `<dynamic>` host `HOST<suffix>` goes to `https://HOST`; "" or undefined: off */
  readonly egressSuffix?: string | undefined;
}

/** What one request brings to every pass: its state, body, signal and record. */
export interface Exchange {
  readonly state: RequestState;
  /** the body as fetch should send it (the client's, or a watched wrapper) */
  readonly body: ReadableStream<Uint8Array> | null;
  /** the body as the proxy watched it (the read deadline), if it did */
  readonly bodyWatch?: BodyWatch | undefined;
  readonly signal: AbortSignal;
  readonly record: ExchangeRecord;
  /** what the request gives back if it turns out unsent (./unsent.ts) */
  readonly unsent: Unsent;
}

/** A response on its way out, with the watch on its backend body when it came from a backend. */
export interface PassResult extends ResponseState {
  readonly watched?: WatchedStream | undefined;
}

/** The filter context: one per request and route pass; loopbacks start a new one over the same request state. */
export class Pass implements FilterContext {
  response: ResponseState | undefined = undefined;
  served: ResponseState | undefined = undefined;
  readonly state = new StateBag();

  constructor(
    readonly request: RequestState,
    readonly params: Readonly<Record<string, string>>,
    readonly unsent: Unsent,
  ) {}

  serve(response: ResponseState): void {
    this.served = response;
  }

  onUnsent(giveBack: () => void): void {
    this.unsent.add(giveBack);
  }
}

export function createPipeline(options: PipelineOptions) {
  const { defaultStatus, maxLoopbacks, preserveHost, breakers } = options;

  async function route(exchange: Exchange, table: RoutingTable, depth: number): Promise<PassResult> {
    const match = table.match(new MatchView(exchange.state));
    if (!match) throw new ProxyError(defaultStatus, "no-route", statusText(defaultStatus));
    const { id, filters, backend } = match.value;
    exchange.record.routeId = id;
    const pass = new Pass(exchange.state, match.params, exchange.unsent);
    let ran = 0;
    // The filter that serves is counted as run: its response half still runs, as in Skipper.
    for (; ran < filters.length && !pass.served; ran++) {
      const pending = filters[ran]!.filter.request?.(pass);
      if (pending) await pending;
    }
    let result: PassResult | undefined = pass.served;
    if (!result) {
      result = await forward(backend, pass, exchange, table, depth);
      // The backend's headers are in (a loopback pass stamps its own; a shunt has no backend).
      if (backend.type !== "loopback" && backend.type !== "shunt") exchange.record.upstreamHeaders = options.retry.clock.now();
    }
    pass.response = result;
    for (let i = ran - 1; i >= 0; i--) {
      const pending = filters[i]!.filter.response?.(pass);
      if (pending) await pending;
    }
    return result;
  }

  function forward(backend: BackendTarget, pass: Pass, exchange: Exchange, table: RoutingTable, depth: number): Promise<PassResult> | PassResult {
    switch (backend.type) {
      case "shunt":
        return { status: 404, headers: new Headers(), body: null };
      case "loopback":
        if (depth >= maxLoopbacks) throw new ProxyError(500, "max-loopbacks", `Internal Server Error: more than ${maxLoopbacks} loopbacks`);
        return route(exchange, table, depth + 1);
      case "network":
        return send(backend.origin, pass, exchange);
      case "dynamic":
        return sendDynamic(dynamicOrigin(pass, options.egressSuffix), pass, exchange);
      case "lb": {
        const endpoint = backend.balancer.pick(clientAddress(pass.request));
        // In flight until the response body has been passed on, not just its headers.
        endpoint.inflight++;
        const done = () => void endpoint.inflight--;
        return send(endpoint.origin, pass, exchange).then(
          (res) => {
            if (res.watched) res.watched.onEnd(done);
            else done();
            return res;
          },
          (err: unknown) => {
            done();
            throw err;
          },
        );
      }
    }
  }

  /** A destination the client chose: through the dial plan, to exactly the address it checked. */
  async function sendDynamic(origin: Origin, pass: Pass, exchange: Exchange): Promise<PassResult> {
    if (!options.dialPlan) return send(origin, pass, exchange);
    const target = parseHostPort(origin.host, DEFAULT_PORT[origin.scheme]);
    if (typeof target === "string") throw new ProxyError(400, "no-dynamic-target", `Bad Request: invalid target host for the dynamic backend: ${target}`);
    const { record } = exchange;
    const { address } = await options.dialPlan.dial({ host: target.host, port: target.port, client: record.peer, user: record.user, identity: record.identity, record });
    return send(origin, pass, exchange, { address, port: target.port, serverName: parseNumericHost(target.host).kind === "name" ? target.host : undefined });
  }

  function send(origin: Origin, pass: Pass, exchange: Exchange, dial?: CheckedAddress): Promise<PassResult> {
    const { request } = pass;
    const { record } = exchange;
    const xff = request.headers.get("x-forwarded-for");
    request.headers.set("x-forwarded-for", xff ? `${xff}, ${request.peer}` : request.peer);
    request.headers.append("via", VIA);
    record.destination = origin.key;
    record.dialed = dial ? authorityOf(dial) : origin.host;
    // A Host set by a filter wins; otherwise the backend's, or the client's with -proxy-preserve-host.
    const hostHeader = request.headers.has("host") ? undefined : preserveHost ? request.host : undefined;
    return sendGuarded(
      {
        origin,
        dial,
        state: request,
        hostHeader,
        body: exchange.body,
        bodyWatch: exchange.bodyWatch,
        clientSignal: exchange.signal,
        deadline: pass.state.get(BACKEND_TIMEOUT),
        // Keyed by where the request really goes, for every kind of backend (Skipper: network only).
        breaker: breakers.get(origin.key, pass.state.get(BREAKER_SETTINGS)),
        policy: pass.state.get(RETRY_POLICY) ?? NO_RETRY,
        replayable: isReplayable(request.method, exchange.body),
        counts: record,
      },
      options.retry,
    );
  }

  return { route };
}

/**
 * Where a `<dynamic>` route goes: the setDynamicBackend* target, else the client's Host. A host
 * under the egress suffix (`api.example.com.egress.local[:port]`) means `https://api.example.com[:port]`:
 * the suffix only tells the proxy to originate TLS, and the certificate is checked against the
 * name without it.
 */
export function dynamicOrigin(pass: Pass, egressSuffix: string | undefined): Origin {
  const dynamic = pass.state.get(DYNAMIC_TARGET);
  if (dynamic?.url) return originOf(dynamic.url.protocol === "https:" ? "https" : "http", dynamic.url.host);
  const host = dynamic?.host ?? pass.request.host;
  if (!host) throw new ProxyError(400, "no-dynamic-target", "Bad Request: no target host for the dynamic backend");
  // An escape such as `%40` is legal in a Host header but would reach fetch inside the authority.
  if (!isValidHost(host) || host.includes("%")) throw new ProxyError(400, "no-dynamic-target", "Bad Request: invalid target host for the dynamic backend");
  const unsuffixed = egressSuffix ? withoutSuffix(host.toLowerCase(), egressSuffix) : undefined;
  if (unsuffixed !== undefined) return originOf("https", unsuffixed);
  return originOf(dynamic?.scheme ?? pass.request.scheme ?? "http", host);
}

/** `name<suffix>[:port]` → `name[:port]`; undefined when the host is not under the suffix (or is the bare suffix). */
function withoutSuffix(host: string, suffix: string): string | undefined {
  const colon = host.lastIndexOf(":");
  const hasPort = colon > 0 && !host.endsWith("]") && /^[0-9]+$/.test(host.slice(colon + 1));
  const name = hasPort ? host.slice(0, colon) : host;
  const bare = name.endsWith(".") ? name.slice(0, -1) : name;
  if (!bare.endsWith(suffix) || bare.length === suffix.length) return undefined;
  return bare.slice(0, -suffix.length) + (hasPort ? host.slice(colon) : "");
}
