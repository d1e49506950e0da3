/**
 * @module
 * Bytes between two raw sockets, both ways, with backpressure and half-close: what a CONNECT
 * tunnel (and later the SNI port) is once its destination is dialed.
 *
 * Bun's `socket.write()` writes what the kernel takes and returns how much. Whatever is left is
 * queued and the *source* is paused, so a slow reader slows the writer down instead of growing
 * the proxy's memory (one slow tunnel without this grew RSS from 30 MB to 929 MB); `drain` on the
 * destination flushes the queue and resumes the source. A FIN from one side is passed on as a FIN
 * to the other (once the queue is out), and the tunnel is over when both directions have ended or
 * either socket fails.
 *
 * The sockets need `allowHalfOpen: true`, or Bun closes both halves on the first FIN; the FIN is
 * sent with `shutdown()`, since Bun's `end()` without data closes the socket.
 */

/** What a flow needs of a Bun socket. */
export interface PipeSocket {
  /** bytes written (possibly fewer than given), or -1 when the socket is closed */
  write(data: Uint8Array): number;
  /** sends FIN: no more writes, reads go on (Bun's `end()` would close both halves) */
  shutdown(): void;
  pause(): void;
  resume(): void;
}

/** One direction: from `source` to `dest`. Feed it the source's `data` and `end` and the destination's `drain`. */
export class Flow {
  readonly #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #ending = false;
  #ended = false;
  /** bytes passed to the destination so far */
  bytes = 0;

  constructor(
    readonly source: PipeSocket,
    readonly dest: PipeSocket,
    /** called once this direction has passed its FIN on */
    readonly onEnd: () => void = () => {},
  ) {}

  /** bytes waiting for the destination to drain (what backpressure bounds) */
  get queued(): number {
    return this.#queuedBytes;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** The source's `data` handler. */
  push(chunk: Uint8Array): void {
    if (this.#ended || this.#ending) return;
    if (this.#queue.length > 0) return this.#enqueue(chunk);
    const written = this.dest.write(chunk);
    if (written < 0) return;
    this.bytes += written;
    // Copied: the chunk Bun handed the data callback is not ours to keep.
    if (written < chunk.length) this.#enqueue(chunk.slice(written));
  }

  /** The destination's `drain` handler: write what is queued, then let the source go on. */
  drain(): void {
    while (this.#queue.length > 0) {
      const head = this.#queue[0]!;
      const written = this.dest.write(head);
      if (written < 0) return;
      this.bytes += written;
      this.#queuedBytes -= written;
      if (written < head.length) {
        this.#queue[0] = head.subarray(written);
        return;
      }
      this.#queue.shift();
    }
    if (this.#ending) return this.#finish();
    this.source.resume();
  }

  /** The destination is gone: drop what is queued, write nothing more, and let the source read on. */
  abandon(): void {
    if (this.#ended) return;
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    this.#ending = false;
    this.#ended = true;
    this.source.resume();
    this.onEnd();
  }

  /** The source's `end` handler (it sent FIN): pass the FIN on once the queue is out. */
  end(): void {
    if (this.#ended || this.#ending) return;
    this.#ending = true;
    if (this.#queue.length === 0) this.#finish();
  }

  #enqueue(chunk: Uint8Array): void {
    if (this.#queue.length === 0) this.source.pause();
    this.#queue.push(chunk);
    this.#queuedBytes += chunk.length;
  }

  #finish(): void {
    this.#ending = false;
    this.#ended = true;
    this.dest.shutdown();
    this.onEnd();
  }
}

/**
 * Both directions of a tunnel between `client` and `upstream`. When both have passed their FIN on,
 * the sockets close by themselves (each has sent and received a FIN) and `onClose` runs; when
 * either fails or vanishes, {@link Tunnel.abort} closes both at once. An upstream that closes
 * cleanly (Bun reports a FIN after ours as `close`, not `end`; a server that answered
 * `Connection: close`) is {@link Tunnel.upstreamClosed}: what it sent still reaches the client.
 */
export class Tunnel {
  readonly up: Flow;
  readonly down: Flow;
  #done = false;
  #closeClient = false;

  constructor(
    readonly client: PipeSocket & { terminate(): void; end(): void },
    readonly upstream: PipeSocket & { terminate(): void },
    readonly onClose: () => void = () => {},
  ) {
    const ended = () => {
      if (this.up.ended && this.down.ended) this.#finish();
    };
    this.up = new Flow(client, upstream, ended);
    this.down = new Flow(upstream, client, ended);
  }

  /** Either side failed or went away: close both now. */
  abort(): void {
    if (this.#done) return;
    this.client.terminate();
    this.upstream.terminate();
    this.#finish();
  }

  /** The upstream closed without an error: pass on what it sent and its FIN, then close the client. */
  upstreamClosed(): void {
    if (this.#done) return;
    this.#closeClient = true;
    this.up.abandon();
    this.down.end();
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    // Graceful: end() goes out after what was written (terminate() would reset the connection).
    if (this.#closeClient) this.client.end();
    this.onClose();
  }
}
