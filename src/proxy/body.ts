/**
 * @module
 * The request body on its way to the backend, with `-read-timeout-server`: a client that has
 * not sent its whole body by the deadline is cut off (Go's http.Server ReadTimeout). Only
 * requests with a body pay for the wrapper; bytes still pass one chunk at a time, unbuffered,
 * and Bun's fetch keeps the client's Content-Length for a stream body.
 */
import { ProxyError } from "./errors.ts";

export interface DeadlineBody {
  readonly stream: ReadableStream<Uint8Array>;
  /** true once the deadline passed before the body ended */
  readonly expired: boolean;
}

export function withReadDeadline(body: ReadableStream<Uint8Array>, ms: number): DeadlineBody {
  const reader = body.getReader();
  let expired = false;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const timer = setTimeout(() => {
    expired = true;
    controller.error(requestTimeout(ms));
    void reader.cancel().catch(() => {});
  }, ms);
  const stream = new ReadableStream<Uint8Array>(
    {
      start: (c) => void (controller = c),
      async pull(c) {
        try {
          const { done, value } = await reader.read();
          if (expired) return;
          if (done) {
            clearTimeout(timer);
            c.close();
          } else c.enqueue(value);
        } catch (err) {
          clearTimeout(timer);
          if (!expired) c.error(err);
        }
      },
      cancel(reason) {
        clearTimeout(timer);
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return {
    stream,
    get expired() {
      return expired;
    },
  };
}

/** The rest of the body may still be on its way: the connection cannot be reused, so it is closed. */
export const requestTimeout = (ms: number): ProxyError =>
  new ProxyError(408, "request-timeout", `Request Timeout: the request body did not arrive within ${ms} ms (-read-timeout-server)`, { connection: "close" });
