/**
 * @module
 * Which bucket a request counts against. An empty key means the request is not limited
 * (Skipper's rule, e.g. for a key header the request lacks).
 */
import { clientAddress, type RequestState } from "../exchange/state.ts";

export type KeyLookup = (state: RequestState) => string;

/** One bucket for every request: `ratelimit` and `-ratelimits type=service`. */
export const sameBucket: KeyLookup = () => "s";

/** Per client: the first X-Forwarded-For address, else the TCP peer. */
export const byClient: KeyLookup = clientAddress;

/** Per value of the named headers, joined; `clientRatelimit(…, "Authorization,X-Tenant")`. */
export function byHeaders(names: readonly string[]): KeyLookup {
  if (names.length === 1) {
    const name = names[0]!;
    return (state) => state.headers.get(name) ?? "";
  }
  return (state) => {
    let key = "";
    for (const name of names) key += (state.headers.get(name) ?? "") + "\n";
    return key.length === names.length ? "" : key;
  };
}
