/**
 * @module
 * The backend call with its guards: the circuit breaker gate before every try, and retries.
 *
 * A reused (pooled) connection that fails before any response byte is tried again once on a new
 * connection by Bun's fetch itself, for every method but POST; that covers the usual cause, a
 * backend that closed an idle connection, so nothing here adds a try of its own.
 *
 * With `retry(attempts, statuses, backoff)`, requests that can be sent twice — idempotent methods
 * without a body (a body is a stream, read once) — get up to `attempts` tries in all, on the
 * listed statuses and on connection errors, waiting `backoff · 2^(n-1)`, jittered to 50–100 %.
 * Never beyond the backendTimeout deadline, which covers all tries and waits; never while the
 * breaker is open: every try asks it first, and each outcome is reported to it — except failures
 * that are the client's (a request fetch refused, a client that left or was too slow) or may be
 * (a backend that gave up while the client's body was still arriving), which give the ticket
 * back without counting.
 */
import { REFUSED, type Breaker } from "../circuit/breaker.ts";
import { CIRCUIT_OPEN_HEADER, clientGone, ProxyError, type ErrorCause } from "../exchange/errors.ts";
import type { RetryPolicy } from "../exchange/keys.ts";
import type { Clock } from "../util/clock.ts";
import type { UpstreamCall, UpstreamResponse } from "./upstream.ts";

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
  /** where this request's retries are counted (its exchange record) */
  readonly counts?: { retries: number };
}

export interface RetryDeps {
  readonly clock: Clock;
  /** [0, 1); jitter */
  readonly random: () => number;
  readonly stats: RetryStats;
  /** one try; `deadline` is the ms left of backendTimeout */
  readonly upstream: (call: UpstreamCall, deadline: number | undefined) => Promise<UpstreamResponse>;
}

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);

export const isReplayable = (method: string, body: unknown): boolean => body === null && IDEMPOTENT.has(method);

/** Failures that say nothing reached the application: worth another try. */
const CONNECTION_ERRORS: ReadonlySet<ErrorCause> = new Set(["dial-failed", "connection-reset"]);

/** The wait before retry number `n` (1-based): base · 2^(n-1), scaled by a random 50–100 %. */
export const backoffDelay = (base: number, n: number, random: () => number): number => base * 2 ** (n - 1) * (0.5 + random() / 2);

export const circuitOpen = (host: string): ProxyError =>
  new ProxyError(503, "circuit-open", `Service Unavailable: circuit breaker for ${host} is open`, { headers: { [CIRCUIT_OPEN_HEADER]: "true" } });

export async function sendGuarded(call: GuardedCall, deps: RetryDeps): Promise<UpstreamResponse> {
  const { breaker, policy, replayable } = call;
  // Only read the clock when there is a deadline to keep: the common case stays one call.
  const deadline = call.deadline === undefined ? undefined : deps.clock.now() + call.deadline;
  const retrying = replayable && policy.attempts > 1;
  for (let tries = 1; ; tries++) {
    let ticket = breaker.allow();
    if (ticket instanceof Promise) ticket = await ticket;
    if (ticket === REFUSED) throw circuitOpen(call.origin.key);
    let wait: number;
    try {
      const res = await deps.upstream(call, deadline === undefined ? undefined : deadline - deps.clock.now());
      breaker.done(ticket, res.status < 500);
      if (!retrying || tries >= policy.attempts || !policy.statuses.has(res.status)) return res;
      wait = backoffDelay(policy.backoff, tries, deps.random);
      if (!fits(deadline, wait, deps.clock)) return res;
      // The answer is dropped: free its connection now rather than when it is collected.
      if (res.body instanceof ReadableStream) void res.body.cancel().catch(() => {});
    } catch (err) {
      if (err instanceof ProxyError && !err.countsAgainstBackend) breaker.release(ticket);
      else breaker.done(ticket, false);
      const again = retrying && tries < policy.attempts && err instanceof ProxyError && CONNECTION_ERRORS.has(err.reason);
      if (!again) throw err;
      wait = backoffDelay(policy.backoff, tries, deps.random);
      if (!fits(deadline, wait, deps.clock)) throw err;
    }
    deps.stats.retries++;
    if (call.counts) call.counts.retries++;
    // A client that leaves during the wait ends it: nobody is left to answer.
    if (wait > 0) await deps.clock.sleep(wait, call.clientSignal).catch(() => Promise.reject(clientGone()));
  }
}

/** Whether waiting `wait` ms still leaves time for another try before the deadline. */
const fits = (deadline: number | undefined, wait: number, clock: Clock): boolean => deadline === undefined || clock.now() + wait < deadline;
