/**
 * @module
 * The call to the backend: our own HTTP/1.1 client (../client) for requests without a body, Bun's
 * fetch for those with one; bodies streamed both ways, no decompression, no redirects followed,
 * no proxy from the environment, and our own timeouts on the one clock.
 */
import type { RequestState, ResponseState } from "../exchange/state.ts";
import type { Origin } from "../routing/origin.ts";
import type { Clock } from "../util/clock.ts";
import type { ClientCall, ClientRequest, ClientResponse, HttpClient } from "../client/client.ts";
import { takeBody, type WatchedStream } from "../util/stream.ts";
import { encodePath } from "../util/url-path.ts";
import { clientGone, OUR_RESPONSE_FIELDS, type ErrorCause, type ProxyError } from "../exchange/errors.ts";
import { invalidStatus, upstreamFailure, UpstreamTimeout } from "./errors.ts";
import { stripHopByHop } from "./hop.ts";

export interface UpstreamOptions {
  /**
   * ms to wait for response headers (-response-header-timeout-backend). The timer starts with the
   * call, so it also bounds DNS, connect and TLS: Bun's fetch has no hook for the end of the
   * connect phase, which a separate dial timeout (-timeout-backend) would need.
   */
  readonly responseHeaderTimeout: number;
  /** TLS settings for https backends: the CA bundle of -backend-ca-file, `rejectUnauthorized: false` for -insecure */
  readonly tls?: { ca?: string[]; rejectUnauthorized?: boolean };
  /** the connections to backends (../client); the handler makes its own when none is given */
  readonly client: HttpClient;
  readonly clock: Clock;
}

/** The address the egress policy checked, dialed instead of the origin's name. */
export interface CheckedAddress {
  readonly address: string;
  readonly port: number;
  /** the name, for TLS SNI and certificate checks; undefined when the client named an IP */
  readonly serverName: string | undefined;
}

/** `address:port`, IPv6 in brackets: a URL authority. */
export const authorityOf = ({ address, port }: CheckedAddress): string => `${address.includes(":") ? `[${address}]` : address}:${port}`;

/** What the proxy saw of the client's request body, where it watched it (the read deadline). */
export interface BodyWatch {
  /** why the body was cut off on our side (the read deadline), if it was: then that is the failure */
  failure(): ProxyError | undefined;
  /** whether the client sent the whole body */
  complete(): boolean;
}

export interface UpstreamCall {
  readonly origin: Origin;
  /** set for a destination the client chose: connect there, with the origin's name as Host and SNI */
  readonly dial?: CheckedAddress | undefined;
  readonly state: RequestState;
  /** the Host header to send; undefined lets fetch use the origin's */
  readonly hostHeader: string | undefined;
  readonly body: ReadableStream<Uint8Array> | null;
  /** the client's body as the proxy watched it; undefined when it was handed to fetch unwatched */
  readonly bodyWatch?: BodyWatch | undefined;
  /** the client's abort signal: a client that leaves aborts the upstream request */
  readonly clientSignal: AbortSignal;
  /** whole round trip deadline in ms (backendTimeout filter) */
  readonly deadline: number | undefined;
}

/** A backend's answer; its body is watched so the proxy sees how it ends (and our timer goes with it). */
export interface UpstreamResponse extends ResponseState {
  readonly watched: WatchedStream | undefined;
}

/** Failures a backend shows when it stops waiting for a request body. */
const MAYBE_THE_CLIENTS: ReadonlySet<ErrorCause> = new Set(["connection-reset", "response-header-timeout", "backend-timeout"]);

/** One try at the backend; `deadline` is what is left of backendTimeout, in ms. */
export async function callUpstream(call: UpstreamCall, options: UpstreamOptions, deadline = call.deadline): Promise<UpstreamResponse> {
  const { origin, state } = call;
  // A client that left (e.g. while a retry waited) gets no new backend request.
  if (call.clientSignal.aborted) throw clientGone();
  const { dial } = call;
  const headers = state.headers;
  if (call.hostHeader !== undefined) headers.set("host", call.hostHeader);
  // The backend is asked for the name, never the IP dialed (a filter's Host still wins).
  else if (!headers.has("host")) headers.set("host", origin.host);

  const pending = call.body === null ? options.client.request(clientRequest(call, options)) : fetchCall(call, options);
  // Our timeouts and the client leaving end the call with why; the first reason is the one kept.
  let aborted: unknown;
  const abort = (reason: unknown) => {
    aborted ??= reason;
    pending.abort(reason);
  };
  const onClientGone = () => abort(call.clientSignal.reason);
  call.clientSignal.addEventListener("abort", onClientGone, { once: true });
  const { clock } = options;
  const headerTimer = options.responseHeaderTimeout > 0 ? clock.setTimeout(() => abort(new UpstreamTimeout("response-header-timeout")), options.responseHeaderTimeout) : undefined;
  // The backendTimeout deadline also covers the body: when it fires mid-stream the body is cut off.
  const deadlineTimer = deadline === undefined ? undefined : clock.setTimeout(() => abort(new UpstreamTimeout("backend-timeout")), deadline);
  try {
    const res = await pending.response;
    // Bun's Response refuses statuses outside 200–599 (1xx were read past).
    if (res.status < 200 || res.status > 599) {
      if (res.body && !(res.body instanceof Uint8Array)) res.body.fail(invalidStatus(res.status, origin.host));
      throw invalidStatus(res.status, origin.host);
    }
    for (const name of OUR_RESPONSE_FIELDS) res.headers.delete(name);
    const watched = res.body instanceof Uint8Array ? undefined : (res.body ?? undefined);
    if (deadlineTimer) {
      if (watched) watched.onEnd(() => deadlineTimer.cancel());
      else deadlineTimer.cancel();
    }
    return { status: res.status, headers: res.headers, body: watched ? watched.stream : (res.body as Uint8Array | null), watched };
  } catch (err) {
    deadlineTimer?.cancel();
    if (call.clientSignal.aborted) throw clientGone();
    const ours = call.bodyWatch?.failure();
    if (ours) throw ours;
    const failure = upstreamFailure(aborted ?? err, origin.host);
    // A backend that closed, or did not answer, while the client's body was still arriving may
    // have given up on a client that stalled or cut its body short: that shows nothing about the
    // backend, so its breaker does not count it (a backend that is really down fails the
    // requests without a body too). Without the read deadline the body is not watched, and
    // whether it arrived whole is unknown: not counted either.
    if (call.body !== null && !call.bodyWatch?.complete() && MAYBE_THE_CLIENTS.has(failure.reason)) throw failure.uncounted();
    throw failure;
  } finally {
    headerTimer?.cancel();
    // After the headers, only a client leaving mid-body matters, and Bun cancels the body itself.
    call.clientSignal.removeEventListener("abort", onClientGone);
  }
}

/** The request as our client sends it: to the checked address (or the origin), SNI and the certificate check by name. */
function clientRequest(call: UpstreamCall, options: UpstreamOptions): ClientRequest {
  const { origin, dial, state } = call;
  return {
    hostname: dial ? dial.address : origin.hostname,
    port: dial ? dial.port : origin.port,
    tls: origin.scheme === "https" ? { serverName: dial ? (dial.serverName ?? dial.address) : origin.hostname, options: options.tls } : undefined,
    method: state.method,
    target: `${wirePath(state)}${state.rawQuery ? "?" + state.rawQuery : ""}`,
    headers: state.headers,
    body: null,
  };
}

/**
 * A request with a body goes through Bun's fetch, which pipes the client's body to the backend
 * natively; through our client every chunk would be a JavaScript object, and a 100 MB upload
 * peaked at 92–104 MB of RSS where fetch keeps it at 84 MB (bench/RESULTS.md).
 */
function fetchCall(call: UpstreamCall, options: UpstreamOptions): ClientCall {
  const controller = new AbortController();
  return { response: viaFetch(call, options, controller.signal), abort: (reason) => controller.abort(reason) };
}

async function viaFetch(call: UpstreamCall, options: UpstreamOptions, signal: AbortSignal): Promise<ClientResponse> {
  const { origin, dial, state } = call;
  const url = `${origin.scheme}://${dial ? authorityOf(dial) : origin.host}${wirePath(state)}${state.rawQuery ? "?" + state.rawQuery : ""}`;
  const res = await fetch(url, {
    method: state.method,
    headers: state.headers,
    body: call.body,
    duplex: "half",
    decompress: false,
    redirect: "manual",
    proxy: false,
    signal,
    tls: origin.scheme === "https" ? tlsFor(dial, options.tls) : undefined,
  } as RequestInit);
  if (res.status < 200 || res.status > 599) void res.body?.cancel().catch(() => {});
  const length = res.headers.get("content-length");
  // fetch hands on every field; ours to edit, so stripped in place instead of copied.
  stripHopByHop(res.headers);
  return { status: res.status, headers: res.headers, body: res.body && takeBody(res.body, length === null ? undefined : Number(length)) };
}

/**
 * TLS to a checked address for fetch: SNI and the certificate check use the name. Bun's pool
 * keys TLS sockets by these options' content, so two names on one IP never share a connection.
 */
function tlsFor(dial: CheckedAddress | undefined, tls: UpstreamOptions["tls"]) {
  return dial?.serverName === undefined ? tls : { ...tls, serverName: dial.serverName };
}

/**
 * The path as it goes on the wire: the client's own bytes while no filter changed it (Skipper
 * sends Go's RawPath then), else the changed path encoded again — which also keeps a rewrite such
 * as "x@evil.example/" or "?a" in the path instead of the authority or the query.
 */
export function wirePath(state: RequestState): string {
  if (state.path === state.decodedPath) return state.rawPath;
  const path = encodePath(state.path);
  return path.startsWith("/") ? path : "/" + path;
}
