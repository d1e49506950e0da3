/**
 * @module
 * What the handler derives from an incoming request before routing, and the checks a request
 * must pass before anything is sent anywhere: one Host, a usable target, framing fetch can send.
 */
import { badRequest } from "../exchange/errors.ts";
import type { RequestState } from "../exchange/state.ts";
import type { MatchRequest } from "../predicates/types.ts";
import { cleanPath } from "../util/url-path.ts";

/**
 * Checks the request's body framing and returns its declared length (null when chunked or none):
 *
 * - Two identical Content-Length lines reach us joined ("5, 5"), which fetch refuses to send.
 *   RFC 9112 §6.3 lets a recipient replace them with one (Bun.serve already refused differing ones).
 * - Bun.serve hands GET and HEAD requests over without their body and fetch refuses to send one,
 *   so such a body would vanish silently: the request is refused instead.
 */
export function checkFraming(method: string, headers: Headers): string | null {
  let length = headers.get("content-length");
  if (length !== null && length.includes(",")) {
    const values = new Set(length.split(",").map((v) => v.trim()));
    if (values.size !== 1) throw badRequest("conflicting Content-Length headers");
    length = [...values][0]!;
    headers.set("content-length", length);
  }
  if ((method === "GET" || method === "HEAD") && ((length !== null && length !== "0") || headers.has("transfer-encoding"))) {
    throw badRequest(`a ${method} request with a body cannot be forwarded`);
  }
  return length;
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
    // Decoded once when the request arrived (or as a filter left it), cleaned for matching only.
    this.path = cleanPath(state.path);
    this.headers = state.headers;
    this.peer = state.peer;
    this.#rawQuery = state.rawQuery;
  }

  get query(): URLSearchParams {
    return (this.#query ??= new URLSearchParams(this.#rawQuery));
  }
}
