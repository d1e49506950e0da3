/**
 * @module
 * The client's request body on its way to the backend. Bun pipes the native body straight into
 * fetch, the fast path; it is wrapped only to enforce `-read-timeout-server` or to count the bytes
 * of a chunked body for the exchange record. Bun's fetch keeps the client's Content-Length for a
 * wrapped body, so uploads stay unchunked.
 */
import { ProxyError } from "../exchange/errors.ts";
import type { Clock } from "../util/clock.ts";
import { watchStream, type WatchedStream } from "../util/stream.ts";

/** The rest of the body may still be on its way: the connection cannot be reused, so it is closed. */
export const requestTimeout = (ms: number): ProxyError =>
  new ProxyError(408, "request-timeout", `Request Timeout: the request body did not arrive within ${ms} ms (-read-timeout-server)`, {
    headers: { connection: "close" },
  });

/** `-read-timeout-server`: a client that has not sent its whole body within `ms` is cut off. */
export function withReadDeadline(body: ReadableStream<Uint8Array>, ms: number, clock: Clock): WatchedStream {
  const watched = watchStream(body);
  const timer = clock.setTimeout(() => watched.fail(requestTimeout(ms)), ms);
  watched.onEnd(() => timer.cancel());
  return watched;
}
