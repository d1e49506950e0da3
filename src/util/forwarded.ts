/**
 * @module
 * The client address as X-Forwarded-For tells it. Every proxy on the way appends the address it
 * saw, so the first entry is the original client and the last one is what the nearest proxy saw
 * (e.g. an AWS ALB). Bun joins repeated X-Forwarded-For lines with ", ", so "last" is the last
 * entry of the last line.
 *
 * ```ts
 * forwardedFor(new Headers({ "x-forwarded-for": "1.2.3.4, 5.6.7.8" }), "first"); // "1.2.3.4"
 * forwardedFor(new Headers({ "x-forwarded-for": "1.2.3.4, 5.6.7.8" }), "last");  // "5.6.7.8"
 * forwardedFor(new Headers(), "first") ?? peer;                                   // the peer
 * ```
 */

export type ForwardedEnd = "first" | "last";

/**
 * The first or last X-Forwarded-For entry with surrounding whitespace removed, or undefined when
 * there is no such header or that entry is empty. The entry is not checked to be an address: it
 * may carry a port (`1.2.3.4:5555`, `[::1]:443`) or be anything a client wrote.
 */
export function forwardedFor(headers: Headers, end: ForwardedEnd): string | undefined {
  const xff = headers.get("x-forwarded-for");
  if (!xff) return undefined;
  let entry: string;
  if (end === "first") {
    const comma = xff.indexOf(",");
    entry = comma < 0 ? xff : xff.slice(0, comma);
  } else {
    entry = xff.slice(xff.lastIndexOf(",") + 1);
  }
  return entry.trim() || undefined;
}
