/**
 * @module
 * The filter contract, after Skipper's `filters.Spec` / `filters.Filter`: a spec turns eskip
 * arguments into a filter instance once per route; the instance's hooks run per request.
 * Instances are shared by all requests of a route: per-request data lives on the context.
 */
import type { Arg } from "../eskip/ast.ts";
import type { BreakerSettings } from "../circuit/settings.ts";
import type { RetryPolicy } from "../proxy/retry.ts";

/** The outgoing request as filters see and change it. */
export interface RequestState {
  method: string;
  /** outgoing path, as sent on the wire (not decoded) */
  path: string;
  /** outgoing query string without "?" */
  rawQuery: string;
  /** outgoing headers; hop-by-hop headers are already gone */
  readonly headers: Headers;
  /** the Host header the client sent, port included */
  readonly host: string;
  /** the TCP peer address, no port */
  readonly peer: string;
}

/** The response on its way back; filters may change status and headers. */
export interface ResponseState {
  status: number;
  readonly headers: Headers;
  body: ReadableStream<Uint8Array> | string | null;
}

/** Where a `<dynamic>` route sends the request; set by the setDynamicBackend* filters. */
export interface DynamicTarget {
  url?: URL;
  host?: string;
  scheme?: string;
}

export interface FilterContext {
  readonly request: RequestState;
  /** set once the response phase starts */
  response: ResponseState | undefined;
  /** path parameters captured by Path/PathSubtree */
  readonly params: Readonly<Record<string, string>>;
  readonly dynamic: DynamicTarget;
  /** whole backend round-trip deadline in ms, from backendTimeout() */
  backendTimeout: number | undefined;
  /** breaker settings from consecutiveBreaker/rateBreaker/disableBreaker; undefined: host or global ones */
  breaker: BreakerSettings | undefined;
  /** from retry(); undefined: only the one retry of a connection that failed before any response */
  retry: RetryPolicy | undefined;
  /** Answer the request from the filter: later filters and the backend are skipped. */
  serve(response: ResponseState): void;
}

export interface Filter {
  request?(ctx: FilterContext): void | Promise<void>;
  response?(ctx: FilterContext): void | Promise<void>;
  /** release what the instance holds when its route leaves the table */
  close?(): void;
}

export interface FilterSpec {
  readonly name: string;
  /** Throws an ArgError naming the bad argument. */
  create(args: readonly Arg[]): Filter;
}
