/**
 * @module
 * Every response the proxy makes up for a failure is built here: a status, a short plain-text
 * reason, and `X-Sallyport-Error` naming the cause for machines. Never a stack trace, never a
 * header value or secret from the request.
 */

import type { ResponseState } from "../filters/types.ts";

export const ERROR_HEADER = "x-sallyport-error";

export type ErrorCause =
  | "no-route"
  | "bad-request"
  | "connect-not-supported"
  | "dial-failed"
  | "dns-failed"
  | "connection-reset"
  | "tls-failed"
  | "response-header-timeout"
  | "backend-timeout"
  | "loop-detected"
  | "max-loopbacks"
  | "no-dynamic-target"
  | "secret-unavailable"
  | "circuit-open"
  | "rate-limited"
  | "request-timeout"
  | "client-gone"
  | "internal";

export class ProxyError extends Error {
  constructor(
    readonly status: number,
    readonly reason: ErrorCause,
    message: string,
    /** extra response headers, e.g. `X-Circuit-Open: true` */
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
  }

  toResponse(): Response {
    return errorResponse(this.status, this.reason, this.message, this.headers);
  }
}

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  499: "Client Closed Request",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  508: "Loop Detected",
};

export const statusText = (status: number): string => STATUS_TEXT[status] ?? "Error";

export function errorResponse(status: number, cause: ErrorCause, message = statusText(status), extra?: Readonly<Record<string, string>>): Response {
  return new Response(message + "\n", {
    status,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "x-content-type-options": "nosniff",
      ...extra,
      [ERROR_HEADER]: cause,
    },
  });
}

/** The same error as a response state, for a filter to serve (earlier filters' response halves still run). */
export function errorState(status: number, cause: ErrorCause, message = statusText(status), extra?: Readonly<Record<string, string>>): ResponseState {
  const res = errorResponse(status, cause, message, extra);
  return { status, headers: res.headers, body: res.body };
}

/** The client went away before the backend answered (nginx's 499); nobody reads this response. */
export const clientGone = (): ProxyError => new ProxyError(499, "client-gone", "Client Closed Request: the client went away");

/** Timeouts abort the upstream fetch with one of these as the reason, so the catch can tell them apart. */
export class UpstreamTimeout extends Error {
  constructor(readonly kind: "response-header-timeout" | "backend-timeout") {
    super(kind);
  }
}

/** Maps what fetch threw to the response Skipper's operators expect: 502 for dial/DNS/reset, 504 for timeouts. */
export function upstreamFailure(err: unknown, host: string): ProxyError {
  if (err instanceof UpstreamTimeout) {
    const what = err.kind === "backend-timeout" ? "backend timeout" : "no response headers in time";
    return new ProxyError(504, err.kind, `Gateway Timeout: ${what} from ${host}`);
  }
  // An aborted fetch throws a DOMException whose code is a number (20), not a string.
  const raw = (err as { code?: unknown } | null)?.code;
  const code = typeof raw === "string" ? raw : "";
  switch (code) {
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "DNSException":
      return new ProxyError(502, "dns-failed", `Bad Gateway: cannot resolve ${host}`);
    case "ECONNREFUSED":
    case "ConnectionRefused":
    case "FailedToOpenSocket":
    case "ENETUNREACH":
    case "EHOSTUNREACH":
      return new ProxyError(502, "dial-failed", `Bad Gateway: cannot connect to ${host}`);
    case "ECONNRESET":
    case "ConnectionClosed":
    case "EPIPE":
      return new ProxyError(502, "connection-reset", `Bad Gateway: connection to ${host} was reset`);
  }
  if (code.startsWith("ERR_TLS") || code === "EPROTO" || /CERT|SSL|VERIFY|SIGNATURE/.test(code)) {
    return new ProxyError(502, "tls-failed", `Bad Gateway: TLS with ${host} failed (${code})`);
  }
  return new ProxyError(502, "dial-failed", `Bad Gateway: request to ${host} failed${code ? ` (${code})` : ""}`);
}
