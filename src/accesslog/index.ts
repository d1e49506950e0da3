/**
 * @module
 * The access log: one line per completed exchange — a proxied request, or a tunnel when it
 * closes — in Skipper's text or JSON layout ({@link accessFormat}), to `-access-log` (appended to)
 * or stderr. The line is made on the event loop's next turn after the record completes, when the
 * response has gone out, and written with others in a batch ({@link openLineWriter}), so the
 * request path waits neither for formatting nor for a disk. `reopen()` is for SIGUSR1
 * after logrotate renamed the file; `close()` writes every queued line, for shutdown.
 *
 * ```ts
 * const accessLog = await openAccessLog(exchanges, { path: "", json: false, stripQuery: true, clock });
 * process.on("SIGUSR1", () => void accessLog.reopen());
 * await accessLog.close();   // after the listeners stopped: the last lines are in
 * ```
 */
import type { ExchangeRecord, Exchanges } from "../exchange/record.ts";
import { openLineWriter } from "../log/line-writer.ts";
import { nextTurn, type Clock } from "../util/clock.ts";
import { accessFormat } from "./format.ts";

export { requestDetails, type HeaderLookup } from "./details.ts";

export interface AccessLogOptions {
  /** `-access-log`: the file appended to; "" is stderr */
  readonly path: string;
  /** `-access-log-json-enabled` */
  readonly json: boolean;
  /** `-access-log-strip-query` */
  readonly stripQuery: boolean;
  /** the one clock, for the batch timer and the records' times */
  readonly clock: Clock;
  /** epoch ms now, for each line's timestamp; Date.now unless a test fixes it */
  readonly wallClock?: () => number;
  /** how long a line may wait for its batch, ms */
  readonly flushMs?: number;
  /** failed writes and reopens, dropped lines: the application log's warn */
  readonly warn?: (message: string) => void;
}

export interface AccessLog {
  /** SIGUSR1: queued lines go to the file open now, later ones to a new file at the path */
  reopen(): Promise<void>;
  /** writes every queued line */
  flush(): Promise<void>;
  /** stops logging and writes every queued line; for the end of stop() */
  close(): Promise<void>;
}

/** Opens the file (rejects when it cannot) and logs every exchange completed from now on. */
export async function openAccessLog(exchanges: Exchanges, options: AccessLogOptions): Promise<AccessLog> {
  const warn = options.warn;
  const out = await openLineWriter({ path: options.path, clock: options.clock, flushMs: options.flushMs, warn: warn && ((m) => warn(`access log: ${m}`)) }).catch((e) => {
    throw new Error(`-access-log ${options.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  });
  const format = accessFormat(options);
  const wallClock = options.wallClock ?? Date.now;
  const { clock } = options;
  // Records completed this turn, with their start on the wall clock (now minus how long the
  // exchange took), made into lines on the next turn: after the response went out, so no client
  // waits for formatting (the first line also loads ICU's time-zone data, about 10 ms).
  let pending: [ExchangeRecord, number][] = [];
  const writePending = () => {
    const batch = pending;
    pending = [];
    for (const [record, startedAt] of batch) out.write(format(record, startedAt));
  };
  const unsubscribe = exchanges.subscribe((record) => {
    if (pending.length === 0) void nextTurn().then(writePending);
    pending.push([record, wallClock() - (clock.now() - record.start)]);
  });
  return {
    reopen() {
      writePending();
      return out.reopen();
    },
    flush() {
      writePending();
      return out.flush();
    },
    close() {
      unsubscribe();
      writePending();
      return out.close();
    },
  };
}
