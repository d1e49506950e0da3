/**
 * @module
 * The state-bag keys through which filters hand settings to the proxy. One constant per setting,
 * typed, so a filter and the proxy cannot disagree on a name or a shape.
 */
import type { BreakerSettings } from "../circuit/settings.ts";
import { StateKey } from "./state.ts";

/** Whole backend round trip, ms, from `backendTimeout()`. */
export const BACKEND_TIMEOUT = new StateKey<number>("backend:timeout");

/** The route's breaker settings from consecutiveBreaker/rateBreaker/disableBreaker. */
export const BREAKER_SETTINGS = new StateKey<BreakerSettings>("circuit:settings");

/** How often and on what a request is tried again, from `retry()`. */
export interface RetryPolicy {
  /** tries in all, the first one included */
  readonly attempts: number;
  /** response statuses that are tried again */
  readonly statuses: ReadonlySet<number>;
  /** ms to wait before the first retry; doubles for each further one */
  readonly backoff: number;
}

/** Without a retry filter: one try (Bun's fetch itself retries a reused connection that failed). */
export const NO_RETRY: RetryPolicy = Object.freeze({ attempts: 1, statuses: new Set<number>(), backoff: 0 });

export const RETRY_POLICY = new StateKey<RetryPolicy>("retry:policy");

/** Where a `<dynamic>` route sends the request; set by the setDynamicBackend* filters. */
export interface DynamicTarget {
  url?: URL;
  host?: string;
  scheme?: "http" | "https";
}

export const DYNAMIC_TARGET = new StateKey<DynamicTarget>("dynamic:target");
