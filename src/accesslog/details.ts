/**
 * @module
 * What the access log needs from a request beyond the exchange record, picked when the record
 * begins — before the pipeline strips hop-by-hop headers and filters rewrite the rest. Only these
 * values are kept, by name: Authorization, Proxy-Authorization, cookies and whatever secrets a
 * request carries are never copied, so no access log line can show them.
 *
 * ```ts
 * record.details = requestDetails((name) => req.headers.get(name), rawQuery, "HTTP/1.1");
 * ```
 */
import type { RequestDetails } from "../exchange/record.ts";

/** A header lookup by lower-case name: `Headers.get`, or the forward port's parsed head. */
export type HeaderLookup = (name: string) => string | null | undefined;

export function requestDetails(header: HeaderLookup, query: string, proto: string): RequestDetails {
  return {
    query,
    proto,
    referer: header("referer") ?? "",
    userAgent: header("user-agent") ?? "",
    forwardedFor: header("x-forwarded-for") ?? "",
    flowId: header("x-flow-id") ?? "",
    audit: header("x-unverified-audit") ?? "",
  };
}
