/** @module What the handler derives from an incoming request before routing. */
import type { RequestState } from "../filters/types.ts";
import type { MatchRequest } from "../predicates/types.ts";
import { forwardedFor } from "../util/forwarded.ts";

/** Splits Bun's absolute `req.url` into path and raw query without building a URL object. */
export function splitTarget(url: string): { path: string; rawQuery: string } {
  // Without a usable Host (HTTP/1.0), Bun leaves the URL relative: "/a/b".
  const start = url.startsWith("/") ? 0 : url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return { path: "/", rawQuery: "" };
  const q = url.indexOf("?", start);
  return q < 0 ? { path: url.slice(start), rawQuery: "" } : { path: url.slice(start, q), rawQuery: url.slice(q + 1) };
}

/**
 * A Host header (or a dynamic target) we are willing to put into a URL: a registered name or IPv4
 * (RFC 3986 reg-name without the characters that would end or split an authority) or a bracketed
 * IPv6 literal, and an optional port. "a.example@127.0.0.1" or "a/b" would move the request elsewhere.
 */
const VALID_HOST = /^(?:[A-Za-z0-9._~%!$&'()*+;=-]*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{0,5})?$/;

export const isValidHost = (host: string): boolean => VALID_HOST.test(host);

const NEEDS_CLEANING = /\/\/|\/\.\.?(\/|$)/;

/** Cleans a path like Skipper's httppath.Clean: no empty, `.` or `..` segments; a trailing slash stays. */
export function cleanPath(path: string): string {
  if (!NEEDS_CLEANING.test(path)) return path;
  const out: string[] = [];
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") out.pop();
    else out.push(seg);
  }
  // As Go's net/http cleanPath: a trailing slash survives only if the path ended with one.
  const trailing = path.endsWith("/");
  const cleaned = "/" + out.join("/");
  return trailing && cleaned !== "/" ? cleaned + "/" : cleaned;
}

/** The request as predicates see it: built from the current request state, query parsed only when asked. */
export class MatchView implements MatchRequest {
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly headers: Headers;
  readonly peer: string;
  readonly #rawQuery: string;
  #query: URLSearchParams | undefined;

  constructor(state: RequestState) {
    this.method = state.method;
    // A loopback pass sees a Host that a filter set; the first pass sees the client's.
    this.host = state.headers.get("host") ?? state.host;
    this.path = cleanPath(state.path);
    this.headers = state.headers;
    this.peer = state.peer;
    this.#rawQuery = state.rawQuery;
  }

  get query(): URLSearchParams {
    return (this.#query ??= new URLSearchParams(this.#rawQuery));
  }
}

/** The client as Skipper's consistentHash and clientRatelimit see it: first X-Forwarded-For entry, else the peer. */
export function clientAddress(state: RequestState): string {
  return forwardedFor(state.headers, "first") ?? state.peer;
}
