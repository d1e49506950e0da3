/**
 * @module
 * Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and must not be forwarded.
 * Bun's fetch passes them through verbatim, so we strip them both ways.
 * `Expect` is included because Bun.serve has already answered `100 Continue` itself.
 */
import { isHeaderName } from "../util/http.ts";

const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "expect",
];

export function stripHopByHop(headers: Headers): void {
  const connection = headers.get("connection");
  if (connection) {
    // Headers named in Connection are hop-by-hop too.
    for (const name of connection.split(",")) {
      const n = name.trim();
      // Headers.delete throws on a name that is not a token; such a "header" cannot exist anyway.
      if (isHeaderName(n)) headers.delete(n);
    }
  }
  for (const name of HOP_BY_HOP) headers.delete(name);
}
