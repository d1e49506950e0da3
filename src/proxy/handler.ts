/**
 * @module
 * One request on the hot path: global rate limit → route → request filters → breaker gate and
 * backend, with retries (retry.ts) → response filters (reverse, only those that ran) → streamed
 * response. Errors become responses in errors.ts only.
 */
import type { Server } from "bun";
import { BreakerRegistry } from "../circuit/registry.ts";
import type { RequestState, ResponseState } from "../filters/types.ts";
import { UNLIMITED, type RequestLimit } from "../ratelimit/global.ts";
import type { RoutingTable } from "../routing/table.ts";
import type { BackendTarget, Origin } from "../routing/types.ts";
import { originOf } from "../routing/origin.ts";
import { systemClock, type Clock } from "../util/clock.ts";
import { requestTimeout, withReadDeadline } from "./body.ts";
import { Context } from "./context.ts";
import { errorResponse, ProxyError, statusText } from "./errors.ts";
import { stripHopByHop } from "./hop.ts";
import { clientAddress, isValidHost, MatchView, splitTarget } from "./request.ts";
import { isReplayable, NO_RETRY, sendGuarded, type RetryDeps, type RetryStats } from "./retry.ts";
import { callUpstream, type UpstreamOptions } from "./upstream.ts";

export interface ProxyOptions {
  /** the live table; read once per request so a reload never splits one */
  readonly table: () => RoutingTable;
  /** -default-http-status */
  readonly defaultStatus: number;
  readonly maxLoopbacks: number;
  /** -proxy-preserve-host */
  readonly preserveHost: boolean;
  readonly upstream: UpstreamOptions;
  /** ms a client has to send its whole request body (-read-timeout-server); 0 = no limit */
  readonly readTimeout?: number;
  /** seconds a client connection may stay idle (Bun.serve's idleTimeout); 0 = no limit */
  readonly idleTimeout?: number;
  readonly onInternalError?: (err: unknown) => void;
  /** breakers by destination (-breaker); default: only routes with breaker filters get one */
  readonly breakers?: BreakerRegistry;
  /** the global -ratelimits limit, checked before routing; default: none */
  readonly requestLimit?: RequestLimit;
  /** counts retries; default: a private counter */
  readonly retryStats?: RetryStats;
  /** time for backoff waits and deadlines, and the jitter source */
  readonly clock?: Clock;
  readonly random?: () => number;
}

/** Every proxy adds itself to Via; a request that already passed us this often is looping. */
const VIA = "1.1 sallyport";

export function createHandler(options: ProxyOptions) {
  const { defaultStatus, maxLoopbacks, preserveHost, readTimeout = 0, idleTimeout = 0 } = options;
  const clock = options.clock ?? systemClock;
  const breakers = options.breakers ?? new BreakerRegistry({ entries: [], clock });
  const requestLimit = options.requestLimit ?? UNLIMITED;
  const retryDeps: RetryDeps = {
    clock,
    random: options.random ?? Math.random,
    stats: options.retryStats ?? { retries: 0 },
    upstream: (call, fresh, deadline) => callUpstream(call, options.upstream, fresh, deadline),
  };

  async function route(state: RequestState, req: Request, table: RoutingTable, depth: number): Promise<ResponseState> {
    const match = table.match(new MatchView(state));
    if (!match) throw new ProxyError(defaultStatus, "no-route", statusText(defaultStatus));
    const { filters, backend } = match.value;
    const ctx = new Context(state, match.params);
    let ran = 0;
    // The filter that serves is counted as run: its response half still runs, as in Skipper.
    for (; ran < filters.length && !ctx.served; ran++) {
      const pending = filters[ran]!.filter.request?.(ctx);
      if (pending) await pending;
    }
    ctx.response = ctx.served ?? (await forward(backend, ctx, req, table, depth));
    for (let i = ran - 1; i >= 0; i--) {
      const pending = filters[i]!.filter.response?.(ctx);
      if (pending) await pending;
    }
    return ctx.response;
  }

  function forward(backend: BackendTarget, ctx: Context, req: Request, table: RoutingTable, depth: number): Promise<ResponseState> | ResponseState {
    switch (backend.type) {
      case "shunt":
        return { status: 404, headers: new Headers(), body: null };
      case "loopback":
        if (depth >= maxLoopbacks) throw new ProxyError(500, "max-loopbacks", `Internal Server Error: more than ${maxLoopbacks} loopbacks`);
        return route(ctx.request, req, table, depth + 1);
      case "network":
        return send(backend.origin, ctx, req);
      case "dynamic":
        return send(dynamicOrigin(ctx), ctx, req);
      case "lb": {
        const endpoint = backend.balancer.pick(clientAddress(ctx.request));
        endpoint.inflight++;
        const done = () => endpoint.inflight--;
        const res = send(endpoint.origin, ctx, req);
        res.then(done, done);
        return res;
      }
    }
  }

  function send(origin: Origin, ctx: Context, req: Request): Promise<ResponseState> {
    const { request } = ctx;
    const xff = request.headers.get("x-forwarded-for");
    request.headers.set("x-forwarded-for", xff ? `${xff}, ${request.peer}` : request.peer);
    request.headers.append("via", VIA);
    // A Host set by a filter wins; otherwise the backend's, or the client's with -proxy-preserve-host.
    const hostHeader = request.headers.has("host") ? undefined : preserveHost ? request.host : undefined;
    const deadlineBody = req.body && readTimeout ? withReadDeadline(req.body, readTimeout) : undefined;
    const body = deadlineBody?.stream ?? req.body;
    const sent = sendGuarded(
      {
        origin,
        state: request,
        hostHeader,
        body,
        clientSignal: req.signal,
        deadline: ctx.backendTimeout,
        // Keyed by where the request really goes, for every kind of backend (Skipper: network only).
        breaker: breakers.get(origin.key, ctx.breaker),
        policy: ctx.retry ?? NO_RETRY,
        replayable: isReplayable(request.method, body),
      },
      retryDeps,
    );
    // Whatever the backend call made of a body cut off by the deadline, the client was too slow.
    return deadlineBody ? sent.catch((err) => Promise.reject(deadlineBody.expired ? requestTimeout(readTimeout) : err)) : sent;
  }

  async function serve(req: Request, server: Server<undefined>): Promise<Response> {
    if (req.method === "CONNECT") {
      return errorResponse(405, "connect-not-supported", "Method Not Allowed: CONNECT tunnels are not served on -address; send them to the forward listener (-forward-address)");
    }
    const host = req.headers.get("host") ?? "";
    // Bun.serve accepts two Host headers and joins them; which one would we route by?
    if (host.includes(",")) return errorResponse(400, "bad-request", "Bad Request: more than one Host header");
    if (!isValidHost(host)) return errorResponse(400, "bad-request", "Bad Request: invalid Host header");
    if (countVia(req.headers.get("via")) > maxLoopbacks) {
      return errorResponse(508, "loop-detected", "Loop Detected: the request passed this proxy too often");
    }
    const { path, rawQuery } = splitTarget(req.url);
    // Bun's request headers are mutable and ours alone: edit them in place instead of copying.
    const headers = req.headers;
    stripHopByHop(headers);
    headers.delete("host");
    const state: RequestState = { method: req.method, path, rawQuery, headers, host, peer: peerAddress(server, req) };
    const limited = requestLimit.check(state);
    if (limited) return errorResponse(429, "rate-limited", statusText(429), limited);
    const res = await route(state, req, options.table(), 0);
    return new Response(res.body, { status: res.status, headers: res.headers });
  }

  return async function handle(req: Request, server: Server<undefined>): Promise<Response> {
    // Bun's idle timer also runs while we wait for the backend: off until the response is ready,
    // then back on for the body and the idle keep-alive connection.
    server.timeout(req, 0);
    try {
      return await serve(req, server);
    } catch (err) {
      if (err instanceof ProxyError) return err.toResponse();
      options.onInternalError?.(err);
      return errorResponse(500, "internal");
    } finally {
      server.timeout(req, idleTimeout);
    }
  };
}

function dynamicOrigin(ctx: Context): Origin {
  const { dynamic, request } = ctx;
  if (dynamic.url) return originOf(dynamic.url.protocol === "https:" ? "https" : "http", dynamic.url.host);
  const host = dynamic.host ?? request.host;
  if (!host) throw new ProxyError(400, "no-dynamic-target", "Bad Request: no target host for the dynamic backend");
  if (!isValidHost(host)) throw new ProxyError(400, "no-dynamic-target", "Bad Request: invalid target host for the dynamic backend");
  return originOf(dynamic.scheme === "https" ? "https" : "http", host);
}

function peerAddress(server: Server<undefined>, req: Request): string {
  const address = server.requestIP(req)?.address ?? "";
  return address.startsWith("::ffff:") ? address.slice(7) : address;
}

function countVia(via: string | null): number {
  if (!via) return 0;
  let n = 0;
  for (let i = via.indexOf("sallyport"); i >= 0; i = via.indexOf("sallyport", i + 1)) n++;
  return n;
}
