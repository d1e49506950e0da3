/**
 * @module
 * What the forward port's front writes itself, on the raw socket, before a connection is a tunnel
 * or a relay: a CONNECT's `200 Connection Established`, and every refusal — the same status, short
 * reason and `X-Sallyport-Error` as ../exchange/errors.ts gives the Bun.serve listeners, always
 * with `Connection: close`, since the front does not read past a refused head.
 */
import { ERROR_HEADER, ProxyError, statusText } from "../exchange/errors.ts";

export const ESTABLISHED: Uint8Array = new TextEncoder().encode("HTTP/1.1 200 Connection Established\r\n\r\n");

/** The HTTP/1.1 bytes of `err` as an error response. */
export function errorBytes(err: ProxyError): Uint8Array {
  const body = err.message + "\n";
  const lines = [
    `HTTP/1.1 ${err.status} ${statusText(err.status)}`,
    "content-type: text/plain; charset=utf-8",
    "x-content-type-options: nosniff",
    ...Object.entries(err.headers ?? {}).map(([name, value]) => `${name}: ${value}`),
    `${ERROR_HEADER}: ${err.reason}`,
    `content-length: ${Buffer.byteLength(body)}`,
    "connection: close",
  ];
  return new TextEncoder().encode(`${lines.join("\r\n")}\r\n\r\n${body}`);
}
