/**
 * @module
 * The application log: consola with a reporter that writes Skipper's non-TTY logrus layout,
 * `[APP]time="2026-01-02T15:04:05Z" level=info msg="Listen on :9090"`, one line per event,
 * to stderr — what operators of Skipper already grep for.
 */
import { createConsola, type ConsolaInstance, type LogObject } from "consola";

/** logrus level names, mapped to consola's numeric levels */
export const LOG_LEVELS = { panic: 0, fatal: 0, error: 0, warn: 1, info: 3, debug: 4, trace: 5 } as const;
export type LogLevelName = keyof typeof LOG_LEVELS;

const LEVEL_NAME: Record<string, string> = { fatal: "fatal", error: "error", warn: "warning", log: "info", info: "info", success: "info", ready: "info", start: "info", debug: "debug", trace: "trace" };

/** Loudest first: what a level one quieter than another means. */
const BY_LOUDNESS = ["error", "warn", "info", "debug", "trace"] as const;
type Writer = (typeof BY_LOUDNESS)[number];
const writerOf = (level: LogLevelName): Writer => (level === "panic" || level === "fatal" ? "error" : level);

/** Writes messages at a logrus level (panic and fatal write as error: nothing here stops the process). */
export function writerAt(log: ConsolaInstance, level: LogLevelName): (message: string) => void {
  const method = writerOf(level);
  return (message) => log[method](message);
}

/** The level one quieter than `level`: info → debug; trace stays trace. */
export function quieter(level: LogLevelName): LogLevelName {
  const at = BY_LOUDNESS.indexOf(writerOf(level));
  return BY_LOUDNESS[Math.min(at + 1, BY_LOUDNESS.length - 1)]!;
}

export interface LogSink {
  write(line: string): void;
}

const stderrSink: LogSink = { write: (line) => process.stderr.write(line) };

export function createLogger(level: LogLevelName = "info", sink: LogSink = stderrSink): ConsolaInstance {
  return createConsola({
    level: LOG_LEVELS[level],
    // consola folds a message repeated within a second into one line: every egress decision and
    // every failure must be its own line, so nothing is folded.
    throttle: 0,
    reporters: [{ log: (obj: LogObject) => sink.write(formatLine(obj)) }],
  });
}

export function formatLine(obj: LogObject): string {
  const msg = obj.args.map((a) => (a instanceof Error ? a.message : typeof a === "string" ? a : JSON.stringify(a))).join(" ");
  const level = LEVEL_NAME[obj.type] ?? "info";
  return `[APP]time="${obj.date.toISOString().replace(/\.\d+Z$/, "Z")}" level=${level} msg=${JSON.stringify(msg)}\n`;
}

/** The process-wide logger; main() replaces its level from -application-log-level. */
export const log: ConsolaInstance = createLogger();
