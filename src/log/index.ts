/**
 * @module
 * The application log: consola with a reporter that writes Skipper's non-TTY logrus layout,
 * `[APP]time="2026-01-02T15:04:05Z" level=info msg="Listen on :9090"`, one line per event,
 * to stderr — what operators of Skipper already grep for. With `-application-log-json-enabled`
 * the same events are logrus JSON lines, `{"level":"info","msg":"Listen on :9090","time":"…"}`,
 * without the prefix: what a log shipper parses without a grok pattern.
 */
import { createConsola, type ConsolaInstance, type ConsolaReporter, type LogObject } from "consola/core";

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

/** Whether `log` writes messages at `level` (its own level is at least as verbose). */
export const logsAt = (log: ConsolaInstance, level: LogLevelName): boolean => log.level >= LOG_LEVELS[level];

/** The level one quieter than `level`: info → debug; trace stays trace. */
export function quieter(level: LogLevelName): LogLevelName {
  const at = BY_LOUDNESS.indexOf(writerOf(level));
  return BY_LOUDNESS[Math.min(at + 1, BY_LOUDNESS.length - 1)]!;
}

export interface LogSink {
  write(line: string): void;
}

const stderrSink: LogSink = { write: (line) => process.stderr.write(line) };

export interface LoggerOptions {
  /** logrus JSON lines instead of the `[APP]` text layout (`-application-log-json-enabled`) */
  readonly json?: boolean;
  /** under `-workers`, the number of the process that wrote the line (logrus field `worker`) */
  readonly worker?: number;
}

export function createLogger(level: LogLevelName = "info", sink: LogSink = stderrSink, options: LoggerOptions = {}): ConsolaInstance {
  return createConsola({
    level: LOG_LEVELS[level],
    // consola folds a message repeated within a second into one line: every egress decision and
    // every failure must be its own line, so nothing is folded.
    throttle: 0,
    reporters: [reporter(sink, options)],
  });
}

/**
 * Switches a logger made by {@link createLogger} between text and JSON lines: main() does this to
 * the process-wide {@link log} once the flags are read, as it sets the level.
 */
export function setLogFormat(logger: ConsolaInstance, options: LoggerOptions, sink: LogSink = stderrSink): void {
  logger.setReporters([reporter(sink, options)]);
}

function reporter(sink: LogSink, options: LoggerOptions): ConsolaReporter {
  const format = options.json ? formatJsonLine : formatLine;
  return { log: (obj: LogObject) => sink.write(format(obj, options.worker)) };
}

/** logrus's TextFormatter: time, level and msg, then the other fields sorted by name. */
export function formatLine(obj: LogObject, worker?: number): string {
  const fields = worker === undefined ? "" : ` worker=${worker}`;
  return `[APP]time="${timeOf(obj)}" level=${levelOf(obj)} msg=${JSON.stringify(messageOf(obj))}${fields}\n`;
}

/** logrus's JSONFormatter: its keys sorted as Go's encoder sorts a map. */
export function formatJsonLine(obj: LogObject, worker?: number): string {
  return `${JSON.stringify({ level: levelOf(obj), msg: messageOf(obj), time: timeOf(obj), worker })}\n`;
}

const messageOf = (obj: LogObject): string => obj.args.map((a) => (a instanceof Error ? a.message : typeof a === "string" ? a : JSON.stringify(a))).join(" ");
const levelOf = (obj: LogObject): string => LEVEL_NAME[obj.type] ?? "info";
/** RFC 3339 in UTC, whole seconds, as logrus prints it in a container */
const timeOf = (obj: LogObject): string => obj.date.toISOString().replace(/\.\d+Z$/, "Z");

/** The process-wide logger; main() replaces its level from -application-log-level. */
export const log: ConsolaInstance = createLogger();
