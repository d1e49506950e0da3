/**
 * @module
 * Our HTTP/1.1 client for backends: `Bun.connect` sockets in a keep-alive pool per destination,
 * on the event loop that serves the request. Bun's fetch runs every request through its HTTP
 * client thread and back, and those two hand-overs cost a third of the proxy's CPU on a small
 * request (bench/RESULTS.md); here a request is one write and a parse in place.
 *
 * - The request body streams from the client's ReadableStream with backpressure: a short write
 *   waits for the socket to drain before the next read. It is sent with the Content-Length the
 *   request has, or chunked when it has none.
 * - The response body is handed on as it arrives, and the socket is paused while the reader has
 *   enough queued; a body that arrived whole with the head comes back as bytes, which Bun.serve
 *   sends with its Content-Length and no stream in JavaScript.
 * - A connection goes back to the pool when its response has been read to the end and both sides
 *   allow it; an idle one is closed by its own socket timer, or when the backend closes it.
 * - A pooled connection that fails before any response byte (the backend closed it while idle)
 *   is tried once more on a new connection, for requests without a body other than POST — what
 *   Bun's fetch does, so retry() filters keep their meaning.
 * - Failures carry the codes Bun's fetch uses (`ECONNREFUSED`, `ECONNRESET`, `InvalidHTTPResponse`,
 *   `ERR_TLS_*` …), so ../proxy/errors.ts maps both alike; {@link ClientCall.abort} ends
 *   everything with its reason (a call takes no AbortSignal: the proxy's timers and the client
 *   leaving call it directly, with no controller and listeners per request).
 */
import { Connection } from "./connection.ts";
import { Call, Exchange, type ClientCall, type ClientRequest, type ClientTls, type ExchangePool } from "./exchange.ts";

export type { ClientCall, ClientRequest, ClientResponse, ClientTls } from "./exchange.ts";

/** Seconds an idle pooled connection stays open. */
const IDLE_SECONDS = 30;

export class HttpClient implements ExchangePool {
  readonly #idle = new Map<string, Connection[]>();
  readonly #tlsIds = new WeakMap<ClientTls, number>();
  #nextTlsId = 1;

  /** Sends `request`. */
  request(request: ClientRequest): ClientCall {
    const call = new Call();
    this.send(call, request);
    return call;
  }

  /** Sends `request` for `call`, on a pooled connection if there is one. */
  send(call: Call, request: ClientRequest): void {
    const key = this.#keyOf(request);
    const pooled = this.#take(key);
    const exchange = new Exchange(request, this, call, key, pooled !== undefined);
    call.exchange = exchange;
    if (pooled) exchange.start(pooled);
    else exchange.dial();
  }

  /** idle pooled connections, over all destinations */
  get idle(): number {
    let n = 0;
    for (const list of this.#idle.values()) n += list.length;
    return n;
  }

  /** Closes every idle connection (at shutdown). */
  close(): void {
    for (const list of this.#idle.values()) for (const connection of list.splice(0)) connection.socket?.end();
  }

  /** A connection whose exchange ended cleanly, for the next request to the same place. */
  release(connection: Connection): void {
    const list = this.#idle.get(connection.key);
    if (list) list.push(connection);
    else this.#idle.set(connection.key, [connection]);
    connection.socket!.timeout(IDLE_SECONDS);
  }

  /** Forgets a connection that closed while idle. */
  forget(connection: Connection): void {
    const list = this.#idle.get(connection.key);
    const at = list?.indexOf(connection) ?? -1;
    if (at < 0) return;
    list!.splice(at, 1);
    // A destination no longer used leaves nothing behind.
    if (list!.length === 0) this.#idle.delete(connection.key);
  }

  #take(key: string): Connection | undefined {
    const list = this.#idle.get(key);
    for (let connection = list?.pop(); connection; connection = list!.pop()) {
      if (!connection.closed) {
        connection.socket!.timeout(0);
        return connection;
      }
    }
    return undefined;
  }

  /** Connections are shared by destination, SNI name and TLS settings (by identity: the config's one object). */
  #keyOf({ hostname, port, tls }: ClientRequest): string {
    if (!tls) return `${hostname}:${port}`;
    let id = 0;
    if (tls.options) {
      id = this.#tlsIds.get(tls.options) ?? 0;
      if (id === 0) this.#tlsIds.set(tls.options, (id = this.#nextTlsId++));
    }
    return `tls:${hostname}:${port}:${tls.serverName}:${id}`;
  }
}
