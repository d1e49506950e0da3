/**
 * @module
 * The call to the backend: fetch with the body streamed both ways, no decompression, no
 * redirects followed, no proxy from the environment, and our own timeouts.
 */
import type { RequestState, ResponseState } from "../filters/types.ts";
import type { Origin } from "../routing/types.ts";
import { watchStream } from "./body.ts";
import { clientGone, upstreamFailure, UpstreamTimeout } from "./errors.ts";
import { stripHopByHop } from "./hop.ts";

export interface UpstreamOptions {
  /**
   * ms to wait for response headers (-response-header-timeout-backend). The timer starts with the
   * call, so it also bounds DNS, connect and TLS: Bun's fetch has no hook for the end of the
   * connect phase, which a separate dial timeout (-timeout-backend) would need.
   */
  readonly responseHeaderTimeout: number;
  /** TLS settings for https backends, e.g. the CA bundle of -backend-ca-file */
  readonly tls?: { ca?: string[] };
}

export interface UpstreamCall {
  readonly origin: Origin;
  readonly state: RequestState;
  /** the Host header to send; undefined lets fetch use the origin's */
  readonly hostHeader: string | undefined;
  readonly body: ReadableStream<Uint8Array> | null;
  /** the client's abort signal: a client that leaves aborts the upstream request */
  readonly clientSignal: AbortSignal;
  /** whole round trip deadline in ms (backendTimeout filter) */
  readonly deadline: number | undefined;
}

/**
 * One try at the backend. `fresh` opens a new connection instead of taking one from the pool (a
 * retry after a failed connection); `deadline` is what is left of backendTimeout, in ms.
 */
export async function callUpstream(call: UpstreamCall, options: UpstreamOptions, fresh = false, deadline = call.deadline): Promise<ResponseState> {
  const { origin, state } = call;
  // A client that left (e.g. while a retry waited) gets no new backend request.
  if (call.clientSignal.aborted) throw clientGone();
  const url = `${origin.scheme}://${origin.host}${requestPath(state.path)}${state.rawQuery ? "?" + state.rawQuery : ""}`;
  const headers = state.headers;
  if (call.hostHeader !== undefined) headers.set("host", call.hostHeader);

  // One controller for our timeouts and the client leaving (cheaper than AbortSignal.any).
  const abort = new AbortController();
  const onClientGone = () => abort.abort(call.clientSignal.reason);
  call.clientSignal.addEventListener("abort", onClientGone, { once: true });
  const headerTimer = options.responseHeaderTimeout > 0 ? setTimeout(() => abort.abort(new UpstreamTimeout("response-header-timeout")), options.responseHeaderTimeout) : undefined;
  // The backendTimeout deadline also covers the body: when it fires mid-stream the body is cut off.
  const deadlineTimer = deadline === undefined ? undefined : setTimeout(() => abort.abort(new UpstreamTimeout("backend-timeout")), deadline);
  try {
    const res = await fetch(url, {
      method: state.method,
      headers,
      body: call.body,
      duplex: "half",
      decompress: false,
      redirect: "manual",
      proxy: false,
      keepalive: !fresh,
      signal: abort.signal,
      tls: origin.scheme === "https" ? options.tls : undefined,
    } as RequestInit);
    // Bun's fetch response headers are mutable: strip them in place instead of copying.
    stripHopByHop(res.headers);
    // With a deadline, watch the body so the timer goes when the body does, not `deadline` later.
    const body = deadlineTimer !== undefined && res.body ? watchStream(res.body, () => clearTimeout(deadlineTimer)).stream : res.body;
    if (!body) clearTimeout(deadlineTimer);
    return { status: res.status, headers: res.headers, body };
  } catch (err) {
    clearTimeout(deadlineTimer);
    if (call.clientSignal.aborted) throw clientGone();
    throw upstreamFailure(abort.signal.aborted ? abort.signal.reason : err, origin.host);
  } finally {
    clearTimeout(headerTimer);
    // After the headers, only a client leaving mid-body matters, and Bun cancels the body itself.
    call.clientSignal.removeEventListener("abort", onClientGone);
  }
}

/**
 * The path as it goes into the backend URL. Filters may leave it without a leading "/" (modPath)
 * or with "?"/"#" in it; spliced into the URL as is, "x@evil.example/" would become the host.
 */
export function requestPath(path: string): string {
  const rooted = path.startsWith("/") ? path : "/" + path;
  return /[?#]/.test(rooted) ? rooted.replaceAll("?", "%3F").replaceAll("#", "%23") : rooted;
}
