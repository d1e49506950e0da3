/**
 * @module
 * The proxy's whole configuration, validated in one place before anything listens.
 * The CLI builds the input from its flag table; values arrive already typed
 * (durations in milliseconds), so this schema checks meaning, not syntax.
 */
import * as v from "valibot";
import { parseBreakerFlag } from "../circuit/settings.ts";
import { parseRatelimitFlag } from "../ratelimit/settings.ts";
import { parseListenAddress } from "./listen-address.ts";

/** logrus levels, the ones Skipper's `-application-log-level` accepts. */
export const LOG_LEVELS = ["panic", "fatal", "error", "warn", "info", "debug", "trace"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

// rawCheck rather than check: the reason comes from the parser ("missing port in address").
const listenAddress = (allowEmpty: boolean) =>
  v.pipe(
    v.string(),
    v.rawCheck<string>(({ dataset, addIssue }) => {
      if (!dataset.typed || (allowEmpty && dataset.value === "")) return;
      try {
        parseListenAddress(dataset.value);
      } catch (error) {
        addIssue({ message: (error as Error).message });
      }
    }),
  );

const milliseconds = v.pipe(v.number(), v.minValue(0, "must not be negative"));

/** A repeatable `key=value` flag: every entry parsed by `parse`, whose message is the issue's. */
const entries = <T>(parse: (entry: string) => T) =>
  v.pipe(
    v.array(v.string()),
    v.rawTransform<string[], T[]>(({ dataset, addIssue, NEVER }) => {
      try {
        return dataset.value.map(parse);
      } catch (error) {
        addIssue({ message: (error as Error).message });
        return NEVER;
      }
    }),
  );

const integer = (min: number, max: number, message: string) =>
  v.pipe(v.number(), v.integer(message), v.minValue(min, message), v.maxValue(max, message));

export const ConfigSchema = v.strictObject({
  /** proxy listener, `host:port` */
  address: listenAddress(false),
  /** eskip text given on the command line */
  inlineRoutes: v.string(),
  /** eskip files, polled every `sourcePollTimeout` */
  routesFile: v.array(v.string()),
  /** route file polling interval, ms; Skipper's flag is an int of milliseconds */
  sourcePollTimeout: integer(1, Number.MAX_SAFE_INTEGER, "must be a positive number of milliseconds"),
  /** `/healthz` and `/routes` listener; "" disables it */
  supportListener: listenAddress(true),
  /** status when no route matches; 1xx cannot end a request */
  defaultHttpStatus: integer(200, 599, "must be an HTTP status between 200 and 599"),
  /** backend dial timeout, ms; 0 means none */
  timeoutBackend: milliseconds,
  /** wait for backend response headers, ms */
  responseHeaderTimeoutBackend: milliseconds,
  /** client keep-alive idle timeout, ms */
  idleTimeoutServer: milliseconds,
  /** time to read a whole client request, ms */
  readTimeoutServer: milliseconds,
  /** forward the client's Host header instead of the backend's */
  proxyPreserveHost: v.boolean(),
  /** `<loopback>` hops allowed per request */
  maxLoopbacks: integer(0, Number.MAX_SAFE_INTEGER, "must not be negative"),
  /** normalised to lower case; logrus also takes `warning` for `warn` */
  applicationLogLevel: v.pipe(
    v.string(),
    v.toLowerCase(),
    v.transform((level) => (level === "warning" ? "warn" : level)),
    v.picklist(LOG_LEVELS, `not a valid log level, use one of ${LOG_LEVELS.join(", ")}`),
  ),
  /** PEM bundle of extra CAs for TLS backends; read by the proxy, not here */
  backendCaFile: v.string(),
  /** skip verifying backends' TLS certificates (Skipper's -insecure); the start warns when set */
  insecure: v.boolean(),
  /** `-breaker` entries in command-line order: global ones merge into a default, host ones apply per host */
  breaker: entries(parseBreakerFlag),
  /** Skipper's switch for filter-only breakers; breaker filters always work here */
  enableBreakers: v.boolean(),
  /** `-ratelimits` entries; only the first is used, as the global limit (Skipper's rule) */
  ratelimits: entries(parseRatelimitFlag),
  /** Skipper's switch that registers the ratelimit filters; they are always registered here */
  enableRatelimits: v.boolean(),
  /** secret files and directories; existence is checked at start, by the secrets store */
  credentialsPaths: v.array(v.string()),
  /** secrets re-read interval, ms; Skipper turns a value <= 0 into its 10m default */
  credentialsUpdateInterval: v.pipe(
    v.number(),
    v.transform((ms) => (ms > 0 ? ms : 10 * 60_000)),
  ),
  /** Skipper flags given on the command line that do nothing here yet, by name without the dash; the start warns about each */
  unwiredFlags: v.array(v.string()),
});

/** The validated configuration. Durations are milliseconds. */
export type Config = v.InferOutput<typeof ConfigSchema>;

/** One problem found by {@link validateConfig}. */
export interface ConfigIssue {
  /** the top-level config key at fault; undefined for a problem with the whole object */
  key: string | undefined;
  message: string;
}

export type ConfigResult = { ok: true; config: Config } | { ok: false; issues: ConfigIssue[] };

/** Validates a whole config; reports every problem at once, not just the first. */
export function validateConfig(input: unknown): ConfigResult {
  const result = v.safeParse(ConfigSchema, input);
  if (result.success) return { ok: true, config: result.output };
  return {
    ok: false,
    issues: result.issues.map((issue) => {
      const key = issue.path?.[0]?.key;
      return { key: typeof key === "string" ? key : undefined, message: issue.message };
    }),
  };
}
