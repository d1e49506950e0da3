/**
 * @module
 * Streams we need to see the end of. Bun pipes a native body straight through, which is the fast
 * path; a body is wrapped only where a deadline must be enforced or cleared, and the wrapper stays
 * pull-based: one chunk at a time, no buffering. Bun's fetch keeps the client's Content-Length
 * for a wrapped request body, so uploads stay unchunked.
 */
import { ProxyError } from "./errors.ts";

export interface WatchedStream {
  readonly stream: ReadableStream<Uint8Array>;
  /** Ends the stream with `err` and cancels its source. */
  fail(err: unknown): void;
}

/** Passes `source` through and calls `onEnd` once it ends, fails or is cancelled. */
export function watchStream(source: ReadableStream<Uint8Array>, onEnd: () => void): WatchedStream {
  const reader = source.getReader();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let ended = false;
  const end = () => {
    if (ended) return false;
    ended = true;
    onEnd();
    return true;
  };
  const stream = new ReadableStream<Uint8Array>(
    {
      start: (c) => void (controller = c),
      async pull(c) {
        try {
          const { done, value } = await reader.read();
          if (ended) return;
          if (done) {
            end();
            c.close();
          } else c.enqueue(value);
        } catch (err) {
          if (end()) c.error(err);
        }
      },
      cancel(reason) {
        end();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return {
    stream,
    fail(err) {
      if (!end()) return;
      controller.error(err);
      void reader.cancel(err).catch(() => {});
    },
  };
}

export interface DeadlineBody {
  readonly stream: ReadableStream<Uint8Array>;
  /** true once the deadline passed before the body ended */
  readonly expired: boolean;
}

/** `-read-timeout-server`: a client that has not sent its whole body within `ms` is cut off. */
export function withReadDeadline(body: ReadableStream<Uint8Array>, ms: number): DeadlineBody {
  let expired = false;
  const watched = watchStream(body, () => clearTimeout(timer));
  const timer = setTimeout(() => {
    expired = true;
    watched.fail(requestTimeout(ms));
  }, ms);
  return {
    stream: watched.stream,
    get expired() {
      return expired;
    },
  };
}

/** The rest of the body may still be on its way: the connection cannot be reused, so it is closed. */
export const requestTimeout = (ms: number): ProxyError =>
  new ProxyError(408, "request-timeout", `Request Timeout: the request body did not arrive within ${ms} ms (-read-timeout-server)`, { connection: "close" });
