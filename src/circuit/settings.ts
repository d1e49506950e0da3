/**
 * @module
 * Breaker settings after Skipper's `circuit.BreakerSettings`: the `-breaker` flag syntax and the
 * merging rule that turns global, host and route settings into the settings of one breaker.
 */
import { KeyValueFlag } from "../util/kv-flag.ts";

/** `none` is the zero value: nothing set at this level, inherit the type from the level below. */
export type BreakerType = "none" | "consecutive" | "rate" | "disabled";

export interface BreakerSettings {
  readonly type: BreakerType;
  /** `host[:port]` a `-breaker` entry applies to; "" for global entries and route filters */
  readonly host: string;
  /** rate breaker: how many of the latest outcomes it looks at (a count, not a duration) */
  readonly window: number;
  /** consecutive failures (consecutive) or failures within the window (rate) that open it */
  readonly failures: number;
  /** ms the breaker stays open before it lets probes through; 0 = unset (60 s) */
  readonly timeout: number;
  /** probes admitted while half-open, and successes needed to close; 0 = unset (1) */
  readonly halfOpenRequests: number;
  /** ms without use after which a breaker is dropped and starts fresh; 0 = unset (1 h) */
  readonly idleTTL: number;
}

export const DEFAULT_IDLE_TTL = 3_600_000;

export const NO_SETTINGS: BreakerSettings = Object.freeze({
  type: "none",
  host: "",
  window: 0,
  failures: 0,
  timeout: 0,
  halfOpenRequests: 0,
  idleTTL: 0,
});

export const breakerSettings = (fields: Partial<BreakerSettings>): BreakerSettings => Object.freeze({ ...NO_SETTINGS, ...fields });

/**
 * Skipper's `mergeSettings`: `to` keeps what it set and takes the rest from `from`. Failures and
 * window only come along with the type, so a route's `consecutiveBreaker(5)` keeps its 5 but
 * may inherit timeout, half-open requests and idle TTL.
 */
export function mergeSettings(to: BreakerSettings, from: BreakerSettings): BreakerSettings {
  let { type, window, failures } = to;
  if (type === "none") {
    type = from.type;
    if (from.type === "consecutive") failures = from.failures;
    if (from.type === "rate") ({ window, failures } = from);
  }
  return breakerSettings({
    type,
    host: to.host,
    window,
    failures,
    timeout: to.timeout || from.timeout,
    halfOpenRequests: to.halfOpenRequests || from.halfOpenRequests,
    idleTTL: to.idleTTL || from.idleTTL,
  });
}

/** Identifies merged settings: breakers to one host with equal settings are one breaker. */
export const settingsKey = (s: BreakerSettings): string =>
  `${s.type} w${s.window} f${s.failures} t${s.timeout} h${s.halfOpenRequests} i${s.idleTTL}`;

const TYPES = ["consecutive", "rate", "disabled"] as const;
const FLAG = new KeyValueFlag("breaker", ["type", "host", "window", "failures", "timeout", "half-open-requests", "idle-ttl"]);

/**
 * Parses one `-breaker` value, Skipper's syntax exactly:
 * `type=consecutive|rate|disabled,host=…,window=N,failures=N,timeout=D,half-open-requests=N,idle-ttl=D`.
 * The type defaults to consecutive. Durations need a unit (Go's `time.ParseDuration`), except `0`.
 * Throws an Error whose message names the key at fault and keeps Go's own parse message.
 */
export function parseBreakerFlag(value: string): BreakerSettings {
  const fields: { -readonly [K in keyof BreakerSettings]?: BreakerSettings[K] } = { type: "consecutive" };
  for (const [key, text] of FLAG.pairs(value)) {
    switch (key) {
      case "type":
        fields.type = FLAG.oneOf(key, text, TYPES, "consecutive, rate or disabled");
        break;
      case "host":
        fields.host = text.toLowerCase();
        break;
      case "window":
        fields.window = FLAG.count(key, text);
        break;
      case "failures":
        fields.failures = FLAG.count(key, text);
        break;
      case "half-open-requests":
        fields.halfOpenRequests = FLAG.count(key, text);
        break;
      case "timeout":
        fields.timeout = FLAG.duration(key, text);
        break;
      case "idle-ttl":
        fields.idleTTL = FLAG.duration(key, text);
        break;
    }
  }
  return breakerSettings(fields);
}
