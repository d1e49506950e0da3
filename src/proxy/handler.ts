/**
 * @module
 * The Bun.serve fetch handler of the proxy listener: checks the request, opens its exchange
 * record, runs the global rate limit and the pipeline (pipeline.ts), and streams the response
 * back, completing the record when the body has been passed on, when the client leaves, or when
 * an error answers. Errors become responses in exchange/errors.ts only.
 */
import type { Server } from "bun";
import { BreakerRegistry } from "../circuit/registry.ts";
import { badRequest, causeOf, clientGone, errorResponse, ProxyError, statusText } from "../exchange/errors.ts";
import { Exchanges, type ExchangeRecord } from "../exchange/record.ts";
import type { RequestState } from "../exchange/state.ts";
import { Unsent } from "../exchange/unsent.ts";
import { UNLIMITED, type RequestLimit } from "../ratelimit/global.ts";
import type { RoutingTable } from "../routing/table.ts";
import { nextTurn, systemClock, type Clock } from "../util/clock.ts";
import { watchStream, type StreamEnd } from "../util/stream.ts";
import { decodePath, InvalidEscapeError, splitTarget } from "../util/url-path.ts";
import { corkedBody } from "./corked.ts";
import { upstreamFailure } from "./errors.ts";
import { stripHopByHop } from "./hop.ts";
import { createPipeline, type PassResult } from "./pipeline.ts";
import { withReadDeadline } from "./request-body.ts";
import { requestDetails } from "../accesslog/index.ts";
import type { DialPlan } from "../egress/dial.ts";
import { HttpClient } from "../client/client.ts";
import { isValidHost, peerAddress } from "../net/host-port.ts";
import type { ClientIdentity } from "../tls/identity.ts";
import { checkFraming } from "./request.ts";
import type { RetryStats } from "./retry.ts";
import { neverSentWhole } from "./unsent.ts";
import { callUpstream, type BodyWatch, type UpstreamOptions } from "./upstream.ts";

/** Where the handler reports what it cannot answer for: bugs and broken backend bodies. */
export interface ProxyLog {
  error(message: string): void;
  warn(message: string): void;
}

/** Whose connection a relayed request came on: the client's address and, over mTLS, its certificate's identity. */
export interface RelayedClient {
  readonly peer: string;
  readonly identity?: ClientIdentity | undefined;
  /**
   * Why the front stopped relaying a request body it found malformed, if it did: the front then
   * cut the relay short, and whatever failure the engine saw (a client gone) was this.
   */
  readonly bodyFault?: () => ProxyError | undefined;
}

/**
 * What a raw-socket front (the forward port's, `-address` over TLS) tells the route engine it
 * relays to — a handler behind it on a private loopback listener — about each request.
 */
export interface RelayedFrom {
  /** the client of the internal connection `req` came on; undefined: not relayed by the front */
  client(req: Request, server: Server<undefined>): RelayedClient | undefined;
  /** the proxy user from Proxy-Authorization; throws 407. Unset: the port has no proxy users */
  authenticate?(proxyAuthorization: string | null): Promise<string | undefined>;
  /** the front rewrites heads and sets {@link RELAYED_SCHEME}; a blind relay passes the client's bytes, so the header is not believed */
  readonly rewritesHeads?: boolean;
}

/** The internal header the front sets on a relayed absolute-form `https://` request; only read from the front. */
export const RELAYED_SCHEME = "x-sallyport-relayed-scheme";

export interface ProxyOptions {
  /** the live table; read once per request so a reload never splits one */
  readonly table: () => RoutingTable;
  /** -default-http-status */
  readonly defaultStatus: number;
  readonly maxLoopbacks: number;
  /** -proxy-preserve-host */
  readonly preserveHost: boolean;
  /** backend timeouts and TLS; the clock defaults to the handler's */
  readonly upstream: Omit<UpstreamOptions, "clock" | "client"> & { readonly clock?: Clock; readonly client?: HttpClient };
  /** ms a client has to send its whole request body (-read-timeout-server); 0 = no limit */
  readonly readTimeout?: number;
  /** seconds a client connection may stay idle (Bun.serve's idleTimeout); 0 = no limit */
  readonly idleTimeout?: number;
  readonly log?: ProxyLog;
  /** breakers by destination (-breaker); default: only routes with breaker filters get one */
  readonly breakers?: BreakerRegistry;
  /** the global -ratelimits limit, checked before routing; default: none */
  readonly requestLimit?: RequestLimit;
  /** counts retries; default: a private counter */
  readonly retryStats?: RetryStats;
  /** completed exchange records go to its observers; default: a private, unobserved one */
  readonly exchanges?: Exchanges;
  /** the listener's name in exchange records */
  readonly listener?: string;
  /** the egress dial plan for `<dynamic>` destinations (see ../egress/dial.ts) */
  readonly dialPlan?: DialPlan;
  /** `-egress-suffix` for `<dynamic>` destinations; "" turns it off */
  readonly egressSuffix?: string;
  /** set for the forward port's route engine: requests come relayed by its front */
  readonly relayed?: RelayedFrom;
  /** keep the query in the record, for an access log that shows it (-access-log-strip-query=false); it may carry credentials */
  readonly recordQuery?: boolean;
  /** time for timeouts, backoff waits and records, and the jitter source */
  readonly clock?: Clock;
  readonly random?: () => number;
}

const SILENT: ProxyLog = { error() {}, warn() {} };
/** a Connection header with the `close` option */
const CLOSE = /(?:^|,)[ \t]*close[ \t]*(?:,|$)/i;

/** RFC 9110 §9.2.1: methods that ask for nothing to change. */
const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);

export function createHandler(options: ProxyOptions) {
  const { maxLoopbacks, readTimeout = 0, idleTimeout = 0, listener = "proxy" } = options;
  const clock = options.clock ?? systemClock;
  const log = options.log ?? SILENT;
  const exchanges = options.exchanges ?? new Exchanges(clock);
  const requestLimit = options.requestLimit ?? UNLIMITED;
  const upstream: UpstreamOptions = { clock, ...options.upstream, client: options.upstream.client ?? new HttpClient() };
  const pipeline = createPipeline({
    defaultStatus: options.defaultStatus,
    maxLoopbacks,
    preserveHost: options.preserveHost,
    breakers: options.breakers ?? new BreakerRegistry({ entries: [], clock }),
    dialPlan: options.dialPlan,
    egressSuffix: options.egressSuffix,
    retry: {
      clock,
      random: options.random ?? Math.random,
      stats: options.retryStats ?? { retries: 0 },
      upstream: (call, deadline) => callUpstream(call, upstream, deadline),
    },
  });

  /** Ends the record with the answer sallyport made up for a failure. */
  function answerError(record: ExchangeRecord, err: unknown): Response {
    let response: Response;
    if (err instanceof ProxyError) {
      record.cause = err.reason;
      response = err.toResponse();
    } else {
      record.cause = "internal";
      log.error(`internal error: ${(err as Error)?.stack ?? err}`);
      response = errorResponse(500, "internal");
    }
    record.status = response.status;
    exchanges.complete(record);
    return response;
  }

  /** Passes the response on; the record completes when its body has. */
  function answer(record: ExchangeRecord, res: PassResult): Response {
    record.status = res.status;
    record.cause ??= causeOf(res);
    const body = res.body;
    if (!(body instanceof ReadableStream)) {
      const size = body === null ? 0 : typeof body === "string" ? Buffer.byteLength(body) : body.byteLength;
      record.bytesOut = size;
      exchanges.complete(record);
      return new Response(corkedBody(body, size), { status: res.status, headers: res.headers });
    }
    const watched = res.watched ?? (exchanges.observed ? watchStream(body) : undefined);
    watched?.onEnd((end, bytes) => {
      record.bytesOut = bytes;
      if (end.kind !== "done") record.cause ??= bodyCause(record, end);
      exchanges.complete(record);
    });
    return new Response(watched?.stream ?? body, { status: res.status, headers: res.headers });
  }

  /** Why a response body stopped early; a broken backend body is logged here, once, by us. */
  function bodyCause(record: ExchangeRecord, end: Exclude<StreamEnd, { kind: "done" }>) {
    if (end.kind === "cancelled") return "client-gone";
    const failure = upstreamFailure(end.error, record.destination ?? record.host);
    // No URL in the line: its query may carry a client's credentials.
    log.warn(`response body from ${record.destination ?? "backend"} ended early (route ${record.routeId}): ${failure.message}`);
    return failure.reason;
  }

  async function serve(req: Request, server: Server<undefined>): Promise<Response> {
    const host = req.headers.get("host") ?? "";
    const { path: rawPath, rawQuery } = splitTarget(req.url);
    const relayed = options.relayed;
    const client = relayed?.client(req, server);
    const record = exchanges.begin(listener, client?.peer ?? requestPeer(server, req), req.method, host, rawPath);
    record.identity = client?.identity;
    // Named values only, copied before the headers are stripped: nothing else can reach a log line.
    if (exchanges.observed) record.details = requestDetails((name) => req.headers.get(name), options.recordQuery ? rawQuery : "", "HTTP/1.1");
    const unsent = new Unsent();
    let body: ReturnType<typeof requestBody>;
    try {
      if (relayed) {
        // Someone on this machine who dialed the engine directly would skip the front's checks.
        if (client === undefined) throw new ProxyError(421, "not-forwarded", "Misdirected Request: send requests to the listener's public port");
        if (relayed.authenticate) record.user = await relayed.authenticate(req.headers.get("proxy-authorization"));
      }
      // Bun.serve closes a connection on which a request arrives pipelined behind one still being
      // answered, and drops both (COMPATIBILITY.md). Both are parsed in the same read, so waiting
      // for the next turn of the event loop shows whether this request's connection is already
      // gone — then it goes nowhere, rather than reaching the backend with nobody left for the
      // answer. Only for methods with side effects: the wait is a tenth of a small GET's cost, and
      // a lost answer to a safe request is one the client can ask again (RFC 9112 §9.3.2).
      if (!SAFE_METHODS.has(req.method)) {
        await nextTurn();
        if (req.signal.aborted) throw clientGone();
      }
      if (req.method === "CONNECT") {
        throw new ProxyError(405, "connect-not-supported", "Method Not Allowed: CONNECT tunnels are not served on -address; send them to the forward listener (-forward-address)");
      }
      // Bun.serve accepts two Host headers and joins them; which one would we route by?
      if (host.includes(",")) throw badRequest("more than one Host header");
      if (!isValidHost(host)) throw badRequest("invalid Host header");
      // A fragment is no part of a request target (RFC 9112 §3.2). Bun.serve keeps it in the path
      // we match, and a backend that drops it would serve `/admin#x` as the `/admin` a route blocks.
      if (req.url.includes("#")) throw badRequest("a fragment (#) in the request target");
      if (countVia(req.headers.get("via")) > maxLoopbacks) throw new ProxyError(508, "loop-detected", "Loop Detected: the request passed this proxy too often");
      const headers = req.headers; // Bun's request headers are mutable and ours alone: edited in place.
      const length = checkFraming(req.method, headers);
      const decodedPath = decodePathOrFail(rawPath);
      stripHopByHop(headers);
      headers.delete("host");
      const scheme = relayed?.rewritesHeads && headers.get(RELAYED_SCHEME) === "https" ? "https" : "http";
      // Ours alone: never passed on from a front, whoever put it there.
      if (relayed) headers.delete(RELAYED_SCHEME);
      const state: RequestState = { method: req.method, path: decodedPath, rawQuery, headers, host, peer: record.peer, scheme, rawPath, decodedPath };
      let limited = requestLimit.check(state, unsent);
      if (limited instanceof Promise) limited = await limited;
      if (limited) throw new ProxyError(429, "rate-limited", statusText(429), { headers: limited });
      body = requestBody(req, length, record);
      const exchange = { state, body: body?.stream ?? req.body, bodyWatch: body?.watch, signal: req.signal, record, unsent };
      return answer(record, await pipeline.route(exchange, options.table(), 0));
    } catch (err) {
      const failure = client?.bodyFault?.() ?? err;
      if (failure instanceof ProxyError && neverSentWhole(failure, record, body?.watch)) unsent.giveBack();
      return answerError(record, failure);
    }
  }

  /**
   * The body fetch sends: the client's own stream, watched only where the read deadline needs it.
   * A chunked upload is not watched just to count it: a JS wrapper around a 100 MB upload costs
   * memory Bun's own stream does not, and no log line or metric reports request size.
   */
  function requestBody(req: Request, length: string | null, record: ExchangeRecord) {
    if (length !== null) record.bytesIn = Number(length);
    if (!req.body || !readTimeout) return undefined;
    const watched = readTimeout ? withReadDeadline(req.body, readTimeout, clock) : watchStream(req.body);
    let failure: ProxyError | undefined;
    let complete = false;
    watched.onEnd((end, bytes) => {
      record.bytesIn = bytes;
      complete = end.kind === "done";
      // Only our own deadline fails the body with a ProxyError; the client was too slow.
      if (end.kind === "failed" && end.error instanceof ProxyError) failure = end.error;
    });
    const watch: BodyWatch = { failure: () => failure, complete: () => complete };
    return { stream: watched.stream, watch };
  }

  return async function handle(req: Request, server: Server<undefined>): Promise<Response> {
    // Bun's idle timer also runs while we wait for the backend: off until the response is ready,
    // then back on for the body and the idle keep-alive connection.
    server.timeout(req, 0);
    try {
      const closing = CLOSE.test(req.headers.get("connection") ?? "");
      const response = await serve(req, server);
      // Bun.serve closes the connection of a `Connection: close` request after the answer but does
      // not say so (RFC 9112 §9.6: the server should); it does when the response carries it.
      if (closing) response.headers.set("connection", "close");
      return response;
    } finally {
      server.timeout(req, idleTimeout);
    }
  };
}

function decodePathOrFail(rawPath: string): string {
  try {
    return decodePath(rawPath);
  } catch (err) {
    if (err instanceof InvalidEscapeError) throw badRequest("invalid percent-escape in the path", err);
    throw err;
  }
}

function requestPeer(server: Server<undefined>, req: Request): string {
  return peerAddress(server.requestIP(req)?.address ?? "");
}

function countVia(via: string | null): number {
  if (!via) return 0;
  let n = 0;
  for (let i = via.indexOf("sallyport"); i >= 0; i = via.indexOf("sallyport", i + 1)) n++;
  return n;
}
