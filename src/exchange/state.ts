/**
 * @module
 * What a request is while it passes through sallyport: the state filters read and change on the
 * way out ({@link RequestState}) and back ({@link ResponseState}), and the typed {@link StateBag}
 * through which a filter hands settings to the proxy (timeouts, breaker, retry, dynamic target).
 * Neutral ground: filters, routing, proxy and the mechanism folders all import it; it imports
 * none of them.
 */
import { forwardedFor } from "../util/forwarded.ts";

/** The outgoing request as filters see and change it. */
export interface RequestState {
  method: string;
  /**
   * The outgoing path, percent-decoded once (Go's `URL.Path`, which Skipper's modPath and setPath
   * edit). While it still equals {@link decodedPath} the path goes out exactly as the client sent
   * it ({@link rawPath}); once a filter changes it, it is percent-encoded again.
   */
  path: string;
  /** outgoing query string without "?", as sent (not decoded) */
  rawQuery: string;
  /** outgoing headers; hop-by-hop headers are already gone */
  readonly headers: Headers;
  /** the Host header the client sent, port included */
  readonly host: string;
  /** the TCP peer address, no port (for the forward port: its client's, not the relay's) */
  readonly peer: string;
  /** the scheme of an absolute-form `https://` target relayed by the forward port; else http */
  readonly scheme?: "http" | "https";
  /** the path as the client sent it */
  readonly rawPath: string;
  /** `rawPath` decoded: what routes match, and what `path` starts as */
  readonly decodedPath: string;
}

/** The response on its way back; filters may change status and headers. */
export interface ResponseState {
  status: number;
  readonly headers: Headers;
  body: ReadableStream<Uint8Array> | Uint8Array | string | null;
}

/** A typed slot in a {@link StateBag}; the name only shows in debugging. */
export class StateKey<T> {
  declare readonly __type?: T;
  constructor(readonly name: string) {}
}

/**
 * Per-request values a filter leaves for the proxy, keyed by the constants of exchange/keys.ts
 * (Skipper's `ctx.StateBag()` with typed keys). Most requests set nothing, so the map is made on
 * first use.
 */
export class StateBag {
  #values: Map<StateKey<unknown>, unknown> | undefined;

  get<T>(key: StateKey<T>): T | undefined {
    return this.#values?.get(key) as T | undefined;
  }

  set<T>(key: StateKey<T>, value: T): void {
    (this.#values ??= new Map()).set(key, value);
  }
}

/** The client as Skipper's consistentHash and clientRatelimit see it: first X-Forwarded-For entry, else the peer. */
export function clientAddress(state: RequestState): string {
  return forwardedFor(state.headers, "first") ?? state.peer;
}
