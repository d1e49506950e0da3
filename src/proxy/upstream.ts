/**
 * @module
 * The call to the backend: fetch with the body streamed both ways, no decompression, no
 * redirects followed, no proxy from the environment, and our own timeouts.
 */
import type { RequestState, ResponseState } from "../filters/types.ts";
import type { Origin } from "../routing/types.ts";
import { upstreamFailure, UpstreamTimeout } from "./errors.ts";
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
  const url = `${origin.scheme}://${origin.host}${state.path}${state.rawQuery ? "?" + state.rawQuery : ""}`;
  const headers = state.headers;
  if (call.hostHeader !== undefined) headers.set("host", call.hostHeader);

  // One controller for our timeouts and the client leaving (cheaper than AbortSignal.any).
  const abort = new AbortController();
  const onClientGone = () => abort.abort(call.clientSignal.reason);
  call.clientSignal.addEventListener("abort", onClientGone, { once: true });
  const headerTimer = setTimeout(() => abort.abort(new UpstreamTimeout("response-header-timeout")), options.responseHeaderTimeout);
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
    return { status: res.status, headers: res.headers, body: res.body };
  } catch (err) {
    clearTimeout(deadlineTimer);
    throw upstreamFailure(abort.signal.aborted ? abort.signal.reason : err, origin.host);
  } finally {
    clearTimeout(headerTimer);
    // After the headers, only a client leaving mid-body matters, and Bun cancels the body itself.
    call.clientSignal.removeEventListener("abort", onClientGone);
  }
}
