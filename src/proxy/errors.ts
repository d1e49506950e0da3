/**
 * @module
 * What the backend call's failures mean: fetch's errors mapped to the response Skipper's
 * operators expect — 502 for dial, DNS, reset and malformed answers, 504 for our timeouts — and
 * 400 where the request itself could not be sent (the client's fault, never the backend's).
 * The responses themselves are built in exchange/errors.ts.
 */
import { badRequest, ProxyError } from "../exchange/errors.ts";

/** Timeouts abort the upstream fetch with one of these as the reason, so the catch can tell them apart. */
export class UpstreamTimeout extends Error {
  constructor(readonly kind: "response-header-timeout" | "backend-timeout") {
    super(kind);
  }
}

const DNS = new Set(["ENOTFOUND", "EAI_AGAIN", "DNSException"]);
const DIAL = new Set(["ECONNREFUSED", "ConnectionRefused", "FailedToOpenSocket", "ENETUNREACH", "EHOSTUNREACH"]);
const RESET = new Set(["ECONNRESET", "ConnectionClosed", "EPIPE"]);
/** The backend answered, but not with HTTP we can pass on. */
const BAD_RESPONSE = new Set(["InvalidContentLength", "UnrequestedUpgrade", "Malformed_HTTP_Response", "InvalidHTTPResponse", "InvalidChunkedEncoding", "ResponseHeadersTooLarge"]);
/** What the client gave us cannot be sent (a port out of range, a bad header value). */
const INVALID_REQUEST = new Set(["ERR_INVALID_URL", "ERR_HTTP_INVALID_HEADER_VALUE", "ERR_INVALID_ARG_VALUE", "ERR_OUT_OF_RANGE"]);

/** Maps what fetch threw (or aborted with) to a ProxyError that keeps it as its cause. */
export function upstreamFailure(err: unknown, host: string): ProxyError {
  if (err instanceof ProxyError) return err;
  if (err instanceof UpstreamTimeout) {
    const what = err.kind === "backend-timeout" ? "backend timeout" : "no response headers in time";
    return new ProxyError(504, err.kind, `Gateway Timeout: ${what} from ${host}`, { cause: err });
  }
  // An aborted fetch throws a DOMException whose code is a number (20), not a string.
  const raw = (err as { code?: unknown } | null)?.code;
  const code = typeof raw === "string" ? raw : "";
  const fail = (reason: "dns-failed" | "dial-failed" | "connection-reset" | "bad-response" | "tls-failed", what: string) =>
    new ProxyError(502, reason, `Bad Gateway: ${what}`, { cause: err });
  if (DNS.has(code)) return fail("dns-failed", `cannot resolve ${host}`);
  if (DIAL.has(code)) return fail("dial-failed", `cannot connect to ${host}`);
  if (RESET.has(code)) return fail("connection-reset", `connection to ${host} was reset`);
  if (BAD_RESPONSE.has(code)) return fail("bad-response", `invalid response from ${host} (${code})`);
  if (INVALID_REQUEST.has(code)) return badRequest(`the request cannot be sent to ${host} (${code})`, err);
  if (code.startsWith("ERR_TLS") || code === "EPROTO" || /CERT|SSL|VERIFY|SIGNATURE/.test(code)) return fail("tls-failed", `TLS with ${host} failed (${code})`);
  return fail("dial-failed", `request to ${host} failed${code ? ` (${code})` : ""}`);
}

/** A status Bun's Response cannot carry (fetch passes 600 through): the backend's answer is not HTTP we can relay. */
export const invalidStatus = (status: number, host: string): ProxyError =>
  new ProxyError(502, "bad-response", `Bad Gateway: invalid status ${status} from ${host}`);
