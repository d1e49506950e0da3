/**
 * @module
 * One socket to a backend, and the socket handlers every one of them shares (the connection is
 * the socket's data): writes that wait for a drain, bytes and closes handed to the exchange the
 * connection serves, an idle one that closes leaving the pool, a TLS certificate that does not
 * verify failing the exchange.
 */
import type { Socket, SocketHandler } from "bun";
import { ClientError } from "./response-head.ts";

/** What a connection reports to the request it is serving (./client.ts's Exchange). */
export interface ConnectionUser {
  received(bytes: Uint8Array): void;
  socketClosed(err: Error | undefined): void;
  fail(err: unknown): void;
}

/** Where an idle connection that closed is forgotten. */
export interface ConnectionPool {
  forget(connection: Connection): void;
}

/** One socket to a backend; `exchange` is the request it is serving, if any. */
export class Connection {
  socket: Socket<Connection> | undefined;
  exchange: ConnectionUser | undefined;
  closed = false;
  /** a TLS connection whose certificate must verify (not -insecure) */
  verify = true;
  /** what a write could not take yet, and who waits for it to drain */
  #unsent: Uint8Array | undefined;
  #drained: (() => void) | undefined;

  constructor(
    readonly key: string,
    readonly pool: ConnectionPool,
  ) {}

  /** Writes all of `bytes`, now or as the socket drains; resolves when the socket has taken them. */
  write(bytes: Uint8Array): Promise<void> | undefined {
    const written = this.socket!.write(bytes);
    if (written === bytes.length) return undefined;
    this.#unsent = bytes.subarray(Math.max(0, written));
    return new Promise<void>((resolve) => (this.#drained = resolve));
  }

  drain(): void {
    const unsent = this.#unsent;
    if (!unsent) return;
    const written = this.socket!.write(unsent);
    if (written < unsent.length) return void (this.#unsent = unsent.subarray(Math.max(0, written)));
    this.#unsent = undefined;
    const drained = this.#drained;
    this.#drained = undefined;
    drained?.();
  }
}

/** The socket handlers, shared by every connection; the connection is the socket's data. */
export const HANDLERS: SocketHandler<Connection> = {
  data: (socket, bytes) => {
    const exchange = socket.data.exchange;
    // Bytes with no request in flight: the backend speaks out of turn, the connection is done.
    if (exchange) exchange.received(bytes);
    else socket.terminate();
  },
  drain: (socket) => socket.data.drain(),
  end: (socket) => void socket.end(),
  close: (socket, err) => closed(socket.data, err),
  error: (socket, err) => closed(socket.data, err),
  timeout: (socket) => socket.terminate(),
  handshake: (socket, success, authorizationError) => {
    if (success && (!authorizationError || !socket.data.verify)) return;
    socket.data.exchange?.fail(authorizationError ?? new ClientError("ERR_TLS_HANDSHAKE", "TLS handshake failed"));
    socket.terminate();
  },
};

function closed(connection: Connection, err?: Error): void {
  if (connection.closed) return;
  connection.closed = true;
  if (connection.exchange) connection.exchange.socketClosed(err);
  else connection.pool.forget(connection);
}

