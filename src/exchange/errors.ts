/**
 * @module
 * Every response the proxy makes up for a failure is built here: a status, a short plain-text
 * reason, and `X-Sallyport-Error` naming the cause for machines. Never a stack trace, never a
 * header value or secret from the request. Filters serve these too (rate limits, missing
 * secrets), which is why they live below filters and proxy alike.
 */
import type { ResponseState } from "./state.ts";

export const ERROR_HEADER = "x-sallyport-error";
/** Skipper's mark of an answer from an open breaker. */
export const CIRCUIT_OPEN_HEADER = "x-circuit-open";

/**
 * The fields only sallyport sets on an answer it made up. A backend's are dropped on the way
 * through, so no backend can pass its own failure off as the proxy's (a client or a dashboard
 * that trusts `X-Sallyport-Error` would blame the wrong party).
 */
export const OUR_RESPONSE_FIELDS: readonly string[] = [ERROR_HEADER, CIRCUIT_OPEN_HEADER];

/** The `X-Sallyport-Error` values; they double as the exchange record's cause and metric labels. */
export type ErrorCause =
  | "no-route"
  | "bad-request"
  | "head-too-large"
  | "connect-not-supported"
  | "connect-port-denied"
  | "egress-denied"
  | "proxy-auth-required"
  | "not-forwarded"
  | "client-certificate"
  | "dial-failed"
  | "dial-timeout"
  | "dns-failed"
  | "dns-timeout"
  | "connection-reset"
  | "bad-response"
  | "tls-failed"
  | "response-header-timeout"
  | "backend-timeout"
  | "loop-detected"
  | "max-loopbacks"
  | "no-dynamic-target"
  | "secret-unavailable"
  | "circuit-open"
  | "rate-limited"
  | "ratelimit-unavailable"
  | "request-timeout"
  | "client-gone"
  | "internal";

export interface ProxyErrorOptions {
  /** extra response headers, e.g. `X-Circuit-Open: true` */
  readonly headers?: Readonly<Record<string, string>>;
  /** the error this one explains (what fetch threw, say), for the log */
  readonly cause?: unknown;
  /** the failure may be the client's doing: a breaker gets its ticket back without an outcome */
  readonly uncounted?: boolean;
}

export class ProxyError extends Error {
  readonly headers: Readonly<Record<string, string>> | undefined;
  readonly #uncounted: boolean;

  constructor(
    readonly status: number,
    readonly reason: ErrorCause,
    message: string,
    options: ProxyErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.headers = options.headers;
    this.#uncounted = options.uncounted ?? false;
  }

  /** Whether the failure is the client's doing: a request it got wrong, a destination it may not reach, its leaving. */
  get clientsFault(): boolean {
    return CLIENT_FAULTS.has(this.reason);
  }

  /** Whether a backend's breaker counts this failure against it. */
  get countsAgainstBackend(): boolean {
    return !this.clientsFault && !this.#uncounted;
  }

  /** The same failure, not counted against the backend: it may have been the client's. */
  uncounted(): ProxyError {
    return new ProxyError(this.status, this.reason, this.message, { headers: this.headers, cause: this.cause, uncounted: true });
  }

  toResponse(): Response {
    return errorResponse(this.status, this.reason, this.message, this.headers);
  }
}

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  407: "Proxy Authentication Required",
  408: "Request Timeout",
  421: "Misdirected Request",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  499: "Client Closed Request",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  508: "Loop Detected",
};

export const statusText = (status: number): string => STATUS_TEXT[status] ?? "Error";

function errorHeaders(cause: ErrorCause, extra?: Readonly<Record<string, string>>): Headers {
  return new Headers({ "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff", ...extra, [ERROR_HEADER]: cause });
}

export function errorResponse(status: number, cause: ErrorCause, message = statusText(status), extra?: Readonly<Record<string, string>>): Response {
  return new Response(message + "\n", { status, headers: errorHeaders(cause, extra) });
}

/** An error answer a filter serves: its cause goes into the exchange record, as a thrown ProxyError's does. */
export interface ErrorState extends ResponseState {
  readonly cause: ErrorCause;
}

/** The same error as a response state, for a filter to serve (earlier filters' response halves still run). */
export function errorState(status: number, cause: ErrorCause, message = statusText(status), extra?: Readonly<Record<string, string>>): ErrorState {
  return { status, headers: errorHeaders(cause, extra), body: message + "\n", cause };
}

/** The cause of a response sallyport made up itself; never read from headers, which a backend can set. */
export const causeOf = (response: ResponseState): ErrorCause | undefined => (response as Partial<ErrorState>).cause;

/** A request the client got wrong: 400, never the backend's fault. */
export const badRequest = (why: string, cause?: unknown): ProxyError => new ProxyError(400, "bad-request", `Bad Request: ${why}`, { cause });

/** A request head over the limit a raw front reads (the forward port's 64 KiB). */
export const headTooLarge = (limit: string): ProxyError => new ProxyError(431, "head-too-large", `Request Header Fields Too Large: the request head is over ${limit}`);

/** A client certificate a TLS listener refused (none where one is required, or one -tls-client-ca does not verify). */
export const clientCertificateRefused = (why: string): ProxyError => new ProxyError(403, "client-certificate", `Forbidden: ${why}`);

/** The client went away before the backend answered (nginx's 499); nobody reads this response. */
export const clientGone = (): ProxyError => new ProxyError(499, "client-gone", "Client Closed Request: the client went away");

/** Failures that are the client's doing: they never count against a backend's breaker. */
const CLIENT_FAULTS: ReadonlySet<ErrorCause> = new Set(["bad-request", "head-too-large", "client-gone", "request-timeout", "no-dynamic-target", "connect-port-denied", "egress-denied", "proxy-auth-required", "not-forwarded", "client-certificate"]);

/**
 * Bun.serve settings for every listener: whatever escapes a handler is reported to `onError` and
 * answered with a plain 500, never Bun's development page with a stack trace.
 */
export const lastResort = (onError: (err: Error) => void) =>
  ({
    development: false,
    error(err: Error) {
      onError(err);
      return errorResponse(500, "internal");
    },
  }) as const;
