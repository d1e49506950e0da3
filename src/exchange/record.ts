/**
 * @module
 * One record per exchange — a proxied request now, a tunnel later — created when it arrives and
 * completed exactly once: when the response body has been sent, when the client leaves, or when
 * an error answered. Observers (the access log and metrics, tests now) subscribe to completion and
 * get the finished record; nothing is formatted on the hot path unless one asks.
 *
 * ```ts
 * const exchanges = new Exchanges(clock);
 * const stop = exchanges.subscribe((r) => console.log(r.status, r.cause, r.bytesOut));
 * ```
 */
import type { ClientIdentity } from "../tls/identity.ts";
import type { Clock } from "../util/clock.ts";
import type { ErrorCause } from "./errors.ts";

/** The egress decision on a client-chosen destination, as the record keeps it. */
export interface EgressVerdict {
  readonly allowed: boolean;
  readonly reason: string;
  /** the rule or special-purpose range that decided */
  readonly rule?: string | undefined;
  readonly range?: string | undefined;
  /** the client's role in the egress roles file, when there is one */
  readonly role?: string | undefined;
  /** report mode: the rules refused the destination, and it was let through anyway */
  readonly wouldDeny?: { readonly reason: string; readonly rule?: string | undefined } | undefined;
}

/**
 * What only the access log reads, picked from the request as it arrived (before filters edit its
 * headers): a handful of values, never a header that carries credentials. `requestDetails()` in
 * src/accesslog builds it.
 */
export interface RequestDetails {
  /** the raw query string without its `?`; "" when there was none */
  readonly query: string;
  /** `HTTP/1.1`, `HTTP/1.0` */
  readonly proto: string;
  readonly referer: string;
  readonly userAgent: string;
  /** X-Forwarded-For as sent: Skipper logs it as the client when present */
  readonly forwardedFor: string;
  /** X-Flow-Id */
  readonly flowId: string;
  /** X-Unverified-Audit */
  readonly audit: string;
}

export interface ExchangeRecord {
  /** a proxied request, or a CONNECT tunnel (method CONNECT, host the target, path empty) */
  readonly kind: "request" | "tunnel";
  /** the listener it came in on, e.g. `proxy` */
  readonly listener: string;
  /** the TCP peer address, no port */
  readonly peer: string;
  /** the forward port's proxy user, once Proxy-Authorization was checked */
  user: string | undefined;
  /** the client certificate's identity, on a TLS listener with -tls-client-auth */
  identity: ClientIdentity | undefined;
  readonly method: string;
  /** the Host header as the client sent it */
  readonly host: string;
  /** the path as the client sent it, without the query (which may carry credentials) */
  readonly path: string;
  /** clock ms when the request arrived */
  readonly start: number;
  /** the route that served it; undefined when none matched */
  routeId: string | undefined;
  /** the status sent to the client */
  status: number | undefined;
  /** the `X-Sallyport-Error` value when sallyport answered for a failure, or what ended the body early */
  cause: ErrorCause | undefined;
  /** `host:port` the request went to (the breaker key) */
  destination: string | undefined;
  /** the address dialed: the URL authority fetch connected to */
  dialed: string | undefined;
  /** the egress policy's decision, for a destination the client chose */
  egress: EgressVerdict | undefined;
  /** request body bytes from the client: the declared Content-Length (a chunked body is counted only under -read-timeout-server); a tunnel's bytes up */
  bytesIn: number;
  /** response body bytes passed to the client */
  bytesOut: number;
  /** clock ms when the backend's response headers arrived */
  upstreamHeaders: number | undefined;
  /** clock ms when the exchange completed */
  end: number | undefined;
  /** backend tries beyond the first */
  retries: number;
  /** for the access log: set where the record begins, when anyone observes */
  details?: RequestDetails | undefined;
}

export type ExchangeObserver = (record: Readonly<ExchangeRecord>) => void;

export class Exchanges {
  #observers: readonly ExchangeObserver[] = [];
  /** begun minus completed, by kind (one add and one subtract per exchange), for metrics */
  readonly #open = { request: 0, tunnel: 0 };

  constructor(readonly clock: Clock) {}

  /** Whether anyone listens: without observers nothing needs to watch a body's end for a record. */
  get observed(): boolean {
    return this.#observers.length > 0;
  }

  /** Calls `observer` with every completed record; returns the unsubscribe function. */
  subscribe(observer: ExchangeObserver): () => void {
    this.#observers = [...this.#observers, observer];
    return () => void (this.#observers = this.#observers.filter((o) => o !== observer));
  }

  /**
   * Exchanges begun and not yet completed: requests in flight, tunnels open. A record is only
   * completed for sure while someone observes (see {@link observed}), so this counts true then.
   */
  open(kind: ExchangeRecord["kind"]): number {
    return this.#open[kind];
  }

  begin(listener: string, peer: string, method: string, host: string, path: string, kind: ExchangeRecord["kind"] = "request"): ExchangeRecord {
    this.#open[kind]++;
    return {
      kind,
      listener,
      peer,
      user: undefined,
      identity: undefined,
      method,
      host,
      path,
      start: this.clock.now(),
      routeId: undefined,
      status: undefined,
      cause: undefined,
      destination: undefined,
      dialed: undefined,
      egress: undefined,
      bytesIn: 0,
      bytesOut: 0,
      upstreamHeaders: undefined,
      end: undefined,
      retries: 0,
    };
  }

  /** Completes the record; a second call for the same record does nothing. */
  complete(record: ExchangeRecord): void {
    if (record.end !== undefined) return;
    record.end = this.clock.now();
    this.#open[record.kind]--;
    for (const observer of this.#observers) observer(record);
  }
}
