/**
 * @module
 * Whether a failed request never reached the backend whole through the client's doing; then the
 * rate-limit slots it took are given back (../exchange/unsent.ts).
 *
 * - A failure of the client's (a bad request, a destination the egress policy refuses, a client
 *   that left) before any backend call began: nothing was sent.
 * - Once the call began the backend had the head, and lacked the rest only if the body was cut
 *   off: by the read deadline (408), found malformed by the forward port's front (400), or by a
 *   client that left before sending it all — known only where the body is watched
 *   (`-read-timeout-server`); where it is not, the request is charged.
 *
 * A client that leaves once its whole request went out is charged: the backend may act on it (and
 * spend a third party's quota), and a refund would let anyone slip past a limit by hanging up.
 * A request cut off mid-body is charged by Skipper and Envoy; here it is not, since no backend
 * can act on half a request — the connection caps and the read deadline bound what such clients
 * cost.
 */
import type { ProxyError } from "../exchange/errors.ts";
import type { ExchangeRecord } from "../exchange/record.ts";
import type { BodyWatch } from "./upstream.ts";

export function neverSentWhole(err: ProxyError, record: ExchangeRecord, body: BodyWatch | undefined): boolean {
  if (!err.clientsFault) return false;
  // The pipeline names the destination as the backend call begins.
  if (record.destination === undefined) return true;
  if (err.reason === "request-timeout" || err.reason === "bad-request") return true;
  return err.reason === "client-gone" && body !== undefined && !body.complete();
}
