/**
 * @module
 * `retry(attempts[, statuses[, backoff]])`: up to `attempts` tries in all for idempotent requests
 * without a body, on the listed statuses (default "502,503,504") and on connection errors, with
 * exponential backoff (default 100ms, doubling, jittered). The loop itself is src/proxy/retry.ts.
 * A reused connection that fails before any response byte is tried again by Bun's fetch itself;
 * that try is not counted here.
 *
 * ```
 * retry(3)                          // 502, 503, 504 and connection errors; 100ms, 200ms waits
 * retry(4, "503", "250ms")
 * ```
 */
import { readArgs } from "../util/args.ts";
import { RETRY_POLICY, type RetryPolicy } from "../exchange/keys.ts";
import type { FilterSpec } from "./types.ts";

const DEFAULT_STATUSES = "502,503,504";
const DEFAULT_BACKOFF = 100;

export const retry: FilterSpec = {
  name: "retry",
  create(args) {
    const a = readArgs("retry", args).count(1, 3);
    const attempts = a.integer(0, "attempts");
    if (attempts < 1) throw a.error(0, "attempts", `must be at least 1, got ${attempts}`);
    const list = a.optional(1, "statuses", "string") ?? DEFAULT_STATUSES;
    const statuses = new Set<number>();
    for (const item of list.split(",")) {
      const status = Number(item.trim());
      if (!Number.isInteger(status) || status < 100 || status > 599) {
        throw a.error(1, "statuses", `must be a comma-separated list of HTTP statuses like "502,503", got ${JSON.stringify(list)}`);
      }
      statuses.add(status);
    }
    const backoff = a.optional(2, "backoff", "duration") ?? DEFAULT_BACKOFF;
    if (backoff < 0) throw a.error(2, "backoff", "must not be negative");
    const policy: RetryPolicy = Object.freeze({ attempts, statuses, backoff });
    return {
      request(ctx) {
        ctx.state.set(RETRY_POLICY, policy);
      },
    };
  },
};
