/**
 * @module
 * Log lines to a file or stderr without a write on the request path. Lines are queued and written
 * in batches — when a batch is large, or `flushMs` after the first queued line, on the one clock —
 * through async file I/O that runs off the event loop, so a slow disk slows the log, not the
 * proxy. `reopen()` is logrotate's rename-then-signal: what was queued goes to the renamed file,
 * later lines to a fresh file at the path. `close()` writes everything queued before it resolves,
 * so nothing is lost at shutdown. A disk that stops keeping up does not grow the queue without
 * end: past `maxBufferedBytes` lines are dropped and counted, and `warn` says so once per episode.
 *
 * ```ts
 * const out = await openLineWriter({ path: "/var/log/sallyport/access.log", clock });
 * out.write("one line\n");
 * process.on("SIGUSR1", () => void out.reopen());
 * await out.close();
 * ```
 */
import { open } from "node:fs/promises";

export interface LineWriter {
  /** queues one line (with its newline); dropped after close() */
  write(line: string): void;
  /** writes what is queued; resolves once it (and every earlier batch) reached the file */
  flush(): Promise<void>;
  /** writes what is queued to the file open now, then opens the path again; stderr stays as it is */
  reopen(): Promise<void>;
  /** writes what is queued and closes the file; later lines are dropped */
  close(): Promise<void>;
  /** lines dropped because the disk fell behind by more than maxBufferedBytes, or after close() */
  readonly dropped: number;
}

/**
 * What the writer needs of the one clock (src/util/clock.ts `Clock`, which fits): log sits beside
 * util in the layers, so it names the shape instead of importing it.
 */
export interface BatchClock {
  setTimeout(callback: () => void | Promise<unknown>, ms: number): { cancel(): void };
}

export interface LineWriterOptions {
  /** the file appended to; "" (the default) is stderr */
  readonly path?: string;
  readonly clock: BatchClock;
  /** how long a line may wait for its batch, ms */
  readonly flushMs?: number;
  /** a batch this large is written at once */
  readonly batchBytes?: number;
  /** queued and unwritten text beyond this is dropped (counted in `dropped`) */
  readonly maxBufferedBytes?: number;
  /** failed writes and reopens, dropped lines: for the application log */
  readonly warn?: (message: string) => void;
}

/** Where batches go: an open file, or stderr. */
interface Output {
  write(data: string): Promise<void>;
  close(): Promise<void>;
}

export const FLUSH_MS = 100;
const BATCH_BYTES = 64 * 1024;
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

/** Opens the file for appending (creating it); rejects when it cannot, e.g. a missing directory. */
export async function openLineWriter(options: LineWriterOptions): Promise<LineWriter> {
  const path = options.path ?? "";
  const openOutput = path === "" ? () => Promise.resolve(stderrOutput) : () => openFile(path);
  return new QueuedLines(await openOutput(), openOutput, options);
}

async function openFile(path: string): Promise<Output> {
  const handle = await open(path, "a");
  // appendFile writes the whole batch, looping over short writes.
  return { write: (data) => handle.appendFile(data), close: () => handle.close() };
}

const stderrOutput: Output = {
  write: (data) => new Promise((resolve, reject) => process.stderr.write(data, (err) => (err ? reject(err) : resolve()))),
  close: () => Promise.resolve(),
};

/** Sizes are counted in string length: log lines are ASCII but for the odd header value. */
class QueuedLines implements LineWriter {
  #output: Output;
  readonly #reopen: () => Promise<Output>;
  readonly #clock: BatchClock;
  readonly #flushMs: number;
  readonly #batchBytes: number;
  readonly #maxBufferedBytes: number;
  readonly #warn: (message: string) => void;
  #queue: string[] = [];
  #queuedBytes = 0;
  /** queued plus handed to a write that has not finished */
  #bufferedBytes = 0;
  /** every batch, reopen and close runs after the one before: lines stay in order */
  #tail: Promise<void> = Promise.resolve();
  #timer: { cancel(): void } | undefined;
  #closed = false;
  #dropped = 0;
  /** dropping since the last good write: warned once */
  #dropping = false;

  constructor(output: Output, reopen: () => Promise<Output>, options: LineWriterOptions) {
    this.#output = output;
    this.#reopen = reopen;
    this.#clock = options.clock;
    this.#flushMs = options.flushMs ?? FLUSH_MS;
    this.#batchBytes = options.batchBytes ?? BATCH_BYTES;
    this.#maxBufferedBytes = options.maxBufferedBytes ?? MAX_BUFFERED_BYTES;
    this.#warn = options.warn ?? (() => {});
  }

  get dropped(): number {
    return this.#dropped;
  }

  write(line: string): void {
    if (this.#closed) return void this.#dropped++;
    if (this.#bufferedBytes + line.length > this.#maxBufferedBytes) return this.#drop();
    this.#queue.push(line);
    this.#queuedBytes += line.length;
    this.#bufferedBytes += line.length;
    if (this.#queuedBytes >= this.#batchBytes) void this.flush();
    else this.#timer ??= this.#clock.setTimeout(() => this.flush(), this.#flushMs);
  }

  flush(): Promise<void> {
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#queue.length === 0) return this.#tail;
    const data = this.#queue.join("");
    const bytes = this.#queuedBytes;
    this.#queue = [];
    this.#queuedBytes = 0;
    return this.#then(async () => {
      try {
        await this.#output.write(data);
        this.#dropping = false;
      } catch (e) {
        this.#warn(`log lines lost, writing failed: ${messageOf(e)}`);
      } finally {
        this.#bufferedBytes -= bytes;
      }
    });
  }

  reopen(): Promise<void> {
    if (this.#closed) return this.#tail;
    void this.flush();
    return this.#then(async () => {
      let fresh: Output;
      try {
        fresh = await this.#reopen();
      } catch (e) {
        // Keep writing where we were: a rotated file beats no log.
        return this.#warn(`log file not reopened, writing on to the old one: ${messageOf(e)}`);
      }
      const old = this.#output;
      this.#output = fresh;
      if (old !== fresh) await old.close().catch(() => {});
    });
  }

  close(): Promise<void> {
    if (this.#closed) return this.#tail;
    void this.flush();
    this.#closed = true;
    return this.#then(() => this.#output.close().catch(() => {}));
  }

  #drop(): void {
    this.#dropped++;
    if (this.#dropping) return;
    this.#dropping = true;
    this.#warn(`log lines dropped: more than ${this.#maxBufferedBytes} bytes wait for a slow disk`);
  }

  #then(step: () => Promise<void>): Promise<void> {
    this.#tail = this.#tail.then(step);
    return this.#tail;
  }
}

const messageOf = (e: unknown): string => (e as NodeJS.ErrnoException)?.code ?? (e as Error)?.message ?? String(e);
