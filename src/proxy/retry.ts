/**
 * @module
 * The backend call with its guards: the circuit breaker gate before every try, and retries.
 *
 * Only requests that can be sent twice are retried: idempotent methods without a body (a body
 * is a stream, read once). For those:
 *
 * - a connection that failed before any response byte (reset, closed) is tried once more on a
 *   new connection, at once: the usual cause is a pooled connection the backend had closed;
 * - with `retry(attempts, statuses, backoff)`, up to `attempts` tries in all, on the listed
 *   statuses and on connection errors, waiting `backoff · 2^(n-1)`, jittered to 50–100 %.
 *
 * Never beyond the backendTimeout deadline, which covers all tries and waits; never while the
 * breaker is open: every try asks it first, and each outcome is reported to it.
 */
import { REFUSED, type Breaker } from "../circuit/breaker.ts";
import type { ResponseState } from "../filters/types.ts";
import type { Clock } from "../util/clock.ts";
import { ProxyError, type ErrorCause } from "./errors.ts";
import type { UpstreamCall } from "./upstream.ts";

export interface RetryPolicy {
  /** tries in all, the first one included */
  readonly attempts: number;
  /** response statuses that are tried again */
  readonly statuses: ReadonlySet<number>;
  /** ms to wait before the first retry; doubles for each further one */
  readonly backoff: number;
}

/** Without a retry filter: one try, plus the one retry of a failed connection. */
export const NO_RETRY: RetryPolicy = Object.freeze({ attempts: 1, statuses: new Set<number>(), backoff: 0 });

/** Counters the metrics module reads. */
export interface RetryStats {
  /** tries beyond the first, of all requests */
  retries: number;
}

export interface GuardedCall extends UpstreamCall {
  readonly breaker: Breaker;
  readonly policy: RetryPolicy;
  /** idempotent and without a body: safe to send again */
  readonly replayable: boolean;
}

export interface RetryDeps {
  readonly clock: Clock;
  /** [0, 1); jitter */
  readonly random: () => number;
  readonly stats: RetryStats;
  /** one try; `fresh` asks for a new connection, `deadline` is the ms left of backendTimeout */
  readonly upstream: (call: UpstreamCall, fresh: boolean, deadline: number | undefined) => Promise<ResponseState>;
}

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);

export const isReplayable = (method: string, body: unknown): boolean => body === null && IDEMPOTENT.has(method);

/** Failures that say nothing reached the application: worth another connection. */
const CONNECTION_ERRORS: ReadonlySet<ErrorCause> = new Set(["dial-failed", "connection-reset"]);

/** The wait before retry number `n` (1-based): base · 2^(n-1), scaled by a random 50–100 %. */
export const backoffDelay = (base: number, n: number, random: () => number): number => base * 2 ** (n - 1) * (0.5 + random() / 2);

export const circuitOpen = (host: string): ProxyError =>
  new ProxyError(503, "circuit-open", `Service Unavailable: circuit breaker for ${host} is open`, { "x-circuit-open": "true" });

export async function sendGuarded(call: GuardedCall, deps: RetryDeps): Promise<ResponseState> {
  const { breaker, policy, replayable } = call;
  // Only read the clock when there is a deadline to keep: the common case stays one call.
  const deadline = call.deadline === undefined ? undefined : deps.clock.now() + call.deadline;
  let tries = 0;
  let connectionRetried = false;
  for (;;) {
    const ticket = breaker.allow();
    if (ticket === REFUSED) throw circuitOpen(call.origin.key);
    tries++;
    let wait: number;
    try {
      const res = await deps.upstream(call, tries > 1, deadline === undefined ? undefined : deadline - deps.clock.now());
      breaker.done(ticket, res.status < 500);
      if (!replayable || tries >= policy.attempts || !policy.statuses.has(res.status)) return res;
      wait = backoffDelay(policy.backoff, tries, deps.random);
      if (!fits(deadline, wait, deps.clock)) return res;
      // The answer is dropped: free its connection now rather than when it is collected.
      if (res.body instanceof ReadableStream) void res.body.cancel().catch(() => {});
    } catch (err) {
      breaker.done(ticket, false);
      if (!replayable || !(err instanceof ProxyError)) throw err;
      if (tries < policy.attempts && CONNECTION_ERRORS.has(err.reason)) {
        wait = backoffDelay(policy.backoff, tries, deps.random);
      } else if (!connectionRetried && err.reason === "connection-reset") {
        connectionRetried = true;
        wait = 0;
      } else {
        throw err;
      }
      if (!fits(deadline, wait, deps.clock)) throw err;
    }
    deps.stats.retries++;
    if (wait > 0) await deps.clock.sleep(wait);
  }
}

/** Whether waiting `wait` ms still leaves time for another try before the deadline. */
const fits = (deadline: number | undefined, wait: number, clock: Clock): boolean => deadline === undefined || clock.now() + wait < deadline;
