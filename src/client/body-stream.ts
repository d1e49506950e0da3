/**
 * @module
 * A response body as the proxy watches it: the chunks an exchange pushes, queued for the reader
 * up to {@link QUEUED_BYTES} and the socket paused beyond that, bytes counted, its end told once — read to the
 * end, cancelled by the reader (the exchange fails, the socket goes), or failed.
 */
import type { StreamEnd, StreamEndListener, WatchedStream } from "../util/stream.ts";
import { ClientError } from "./response-head.ts";

/**
 * Response bytes queued for the reader before the socket is paused. Counted in bytes, not chunks:
 * one read can bring 512 KiB, and a 1 GiB download peaked 10–15 MB higher with eight chunks queued.
 * 64 KiB rather than 256: less is held for a download whose client stopped reading, until the
 * idle timeout lets it go (1,000 of them, test/robustness/bounds.test.ts: 298 MiB peak instead of
 * 1,079 in one run; runs vary with the allocator), and one 1 GiB download ran as fast
 * (5 alternating rounds: 1,043 vs 969 MiB/s median, the same 92 MiB peak).
 */
const QUEUED_BYTES = 64 * 1024;

/**
 * What every body stream holds together, kept as each one's share changes (a push, a read, its
 * end), so a scrape costs nothing and no stream is kept alive for it.
 */
let queuedTotal = 0;

/**
 * Response bytes read from backends and not yet taken by the reader (Bun.serve, for the client),
 * over every response body still arriving: at most 64 KiB each, plus a last read that was larger.
 */
export const queuedResponseBytes = (): number => queuedTotal;

/** What the stream asks of the exchange that feeds it. */
export interface BodySource {
  pause(): void;
  resume(): void;
  fail(err: unknown): void;
}

/** A response body as the proxy watches it: bytes counted, its end told once. */
export class BodyStream implements WatchedStream {
  readonly stream: ReadableStream<Uint8Array>;
  bytes = 0;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #ended: StreamEnd | undefined;
  #listeners: StreamEndListener[] = [];
  /** this stream's share of {@link queuedTotal} when last counted */
  #counted = 0;

  constructor(readonly exchange: BodySource) {
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => void (this.#controller = controller),
        pull: () => {
          this.#recount();
          exchange.resume();
        },
        cancel: () => {
          this.#end({ kind: "cancelled" });
          exchange.fail(new ClientError("ECONNRESET", "the response body was cancelled"));
        },
      },
      { highWaterMark: QUEUED_BYTES, size: (chunk) => chunk?.byteLength ?? 0 },
    );
  }

  /** Brings its share of the total to what it holds now: pushed and not yet read, nothing once ended. */
  #recount(): void {
    const now = this.#ended ? 0 : QUEUED_BYTES - (this.#controller.desiredSize ?? QUEUED_BYTES);
    queuedTotal += now - this.#counted;
    this.#counted = now;
  }

  push(chunk: Uint8Array): void {
    if (this.#ended || chunk.length === 0) return;
    this.bytes += chunk.length;
    this.#controller.enqueue(chunk);
    this.#recount();
    if ((this.#controller.desiredSize ?? 1) <= 0) this.exchange.pause();
  }

  close(): void {
    if (this.#end({ kind: "done" })) this.#controller.close();
  }

  error(err: unknown): void {
    if (this.#end({ kind: "failed", error: err })) this.#controller.error(err);
  }

  onEnd(listener: StreamEndListener): void {
    if (this.#ended) listener(this.#ended, this.bytes);
    else this.#listeners.push(listener);
  }

  fail(error: unknown): void {
    this.exchange.fail(error);
  }

  #end(how: StreamEnd): boolean {
    if (this.#ended) return false;
    this.#ended = how;
    this.#recount();
    for (const listener of this.#listeners.splice(0)) listener(how, this.bytes);
    return true;
  }
}

