/**
 * @module
 * A body stream we need to see the end of: passed through one chunk at a time (pull-based, no
 * buffering), counting bytes, telling listeners once how it ended — read to the end, cancelled
 * by the reader (a client that left), or failed (the source broke, or {@link WatchedStream.fail}
 * cut it off). Bun pipes a native body straight through when nothing watches it, but then prints
 * its own multi-line error dump (with the full URL) when the source breaks mid-body; through here
 * the failure reaches our listeners instead.
 */
export type StreamEnd =
  | { readonly kind: "done" }
  | { readonly kind: "cancelled" }
  | { readonly kind: "failed"; readonly error: unknown };

export type StreamEndListener = (end: StreamEnd, bytes: number) => void;

export interface WatchedStream {
  readonly stream: ReadableStream<Uint8Array>;
  /** bytes passed through so far */
  readonly bytes: number;
  /** Adds a listener; one added after the end is called at once. */
  onEnd(listener: StreamEndListener): void;
  /** Ends the stream with `error` and cancels its source. */
  fail(error: unknown): void;
}

const DONE: StreamEnd = Object.freeze({ kind: "done" });
const CANCELLED: StreamEnd = Object.freeze({ kind: "cancelled" });

type ReadResult = { readonly done: true; readonly value?: undefined } | { readonly done: false; readonly value: Uint8Array };

/** What the watch needs of a stream's reader. */
interface Reader {
  read(): Promise<ReadResult>;
  cancel(reason?: unknown): Promise<void>;
}

const readerOf = (source: ReadableStream<Uint8Array>): Reader => source.getReader() as unknown as Reader;

/**
 * Watches `source`. `first` is a read already started on `reader` (see {@link takeBody}); the
 * stream hands its result on before reading again.
 */
export function watchStream(source: ReadableStream<Uint8Array>, reader: Reader = readerOf(source), first?: Promise<ReadResult>): WatchedStream {
  // A read that fails before anyone pulls must not count as an unhandled rejection: pull awaits
  // the same promise and reports the failure as the stream's end.
  first?.catch(() => {});
  let pending = first;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let bytes = 0;
  let ended: StreamEnd | undefined;
  let listeners: StreamEndListener[] = [];
  const end = (how: StreamEnd): boolean => {
    if (ended) return false;
    ended = how;
    for (const listener of listeners) listener(how, bytes);
    listeners = [];
    return true;
  };
  const stream = new ReadableStream<Uint8Array>(
    {
      start: (c) => void (controller = c),
      async pull(c) {
        try {
          const next = pending ?? reader.read();
          pending = undefined;
          const { done, value } = await next;
          if (ended) return;
          if (done) {
            end(DONE);
            c.close();
          } else {
            bytes += value.byteLength;
            c.enqueue(value);
          }
        } catch (error) {
          if (end({ kind: "failed", error })) c.error(error);
        }
      },
      cancel(reason) {
        end(CANCELLED);
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return {
    stream,
    get bytes() {
      return bytes;
    },
    onEnd(listener) {
      if (ended) listener(ended, bytes);
      else listeners.push(listener);
    },
    fail(error) {
      if (!end({ kind: "failed", error })) return;
      controller.error(error);
      void reader.cancel(error).catch(() => {});
    },
  };
}

/**
 * A backend body as the proxy passes it on. When the whole body has already arrived in one chunk
 * (`length` says how long it is, and the first read is fulfilled at once with that much), it is
 * returned as bytes: Bun.serve then sends it with its Content-Length and without a stream in
 * JavaScript, which halves the cost of a small response. Anything else is watched, starting with
 * the read already under way; nothing waits for a body to arrive.
 */
export function takeBody(source: ReadableStream<Uint8Array>, length: number | undefined): Uint8Array | WatchedStream | null {
  const reader = readerOf(source);
  const first = reader.read();
  // Bun.peek reads a settled promise's value synchronously.
  if (Bun.peek.status(first) === "fulfilled") {
    const early = Bun.peek(first) as ReadResult;
    if (early.done) return null;
    if (early.value.byteLength === length) return early.value;
  }
  return watchStream(source, reader, first);
}
