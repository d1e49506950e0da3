/**
 * @module
 * Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and must not be forwarded.
 * Bun.serve and Bun's fetch pass them through verbatim, so we strip requests and fetch's
 * responses; our own client leaves them out of a response as it parses it.
 */
import { HOP_BY_HOP_FIELDS, isHeaderName } from "../util/http.ts";

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
  for (const name of HOP_BY_HOP_FIELDS) headers.delete(name);
}
