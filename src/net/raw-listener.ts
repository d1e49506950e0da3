/**
 * @module
 * What every raw-socket way in (the forward port's front, the SNI port) needs besides its own
 * handlers: an exclusive, half-open `Bun.listen`, connections admitted under
 * `-max-tcp-listener-concurrency` (./admission.ts), and the set of its open connections, so that
 * draining waits for them (at most the grace) and then cuts the rest.
 */
import type { Socket, SocketHandler, TCPSocketListener } from "bun";
import type { Admission } from "./admission.ts";
import { bindFailure, portsShared } from "./listener.ts";

/**
 * Binds `hostname:port` exclusively (a second sallyport must fail, not split the traffic), or
 * shared with the other `-workers` (SO_REUSEPORT), half-open for tunnels.
 */
export function listenRaw<Data>(flag: string, hostname: string, port: number, socket: SocketHandler<Data>, admission?: Admission<Socket<Data>>): TCPSocketListener<Data> {
  // reusePort works on Bun.listen (1.4.5) but is typed for Bun.connect only.
  const binding = (portsShared() ? { reusePort: true } : { exclusive: true }) as { exclusive?: boolean };
  try {
    return Bun.listen<Data>({ hostname, port, ...binding, allowHalfOpen: true, socket: openedOnly(socket, admission) });
  } catch (e) {
    throw bindFailure(flag, hostname, port, e);
  }
}

/**
 * The handlers, each run only for a socket whose `open` completed. Bun reports an exception thrown
 * by `open` to `error`, then `close`, and every handler here expects what `open` sets up: the
 * soak's clients that reset at once left sockets without an address, `open` threw on it, and each
 * of them logged two more TypeErrors from the handlers after it. Under an admission, `open` runs
 * when the connection is admitted; until then it waits, not read.
 */
function openedOnly<Data>(handlers: SocketHandler<Data>, admission: Admission<Socket<Data>> | undefined): SocketHandler<Data> {
  const opened = new WeakSet<Socket<Data>>();
  const guard =
    <A extends unknown[]>(handler: ((socket: Socket<Data>, ...args: A) => void | Promise<void>) | undefined) =>
    (socket: Socket<Data>, ...args: A) => {
      if (opened.has(socket)) return handler?.(socket, ...args);
    };
  const open = (socket: Socket<Data>) => {
    void handlers.open?.(socket);
    opened.add(socket);
  };
  const close = guard(handlers.close);
  return {
    ...handlers,
    open: admission ? (socket) => admission.admit(socket, () => open(socket)) : open,
    data: guard(handlers.data),
    drain: guard(handlers.drain),
    end: guard(handlers.end),
    close: admission
      ? (socket, err) => {
          admission.release(socket);
          return close(socket, err);
        }
      : close,
    error: guard(handlers.error),
    timeout: guard(handlers.timeout),
  };
}

/** A listener's open connections; `delete` from the socket's close handler. */
export class OpenSockets<Data> {
  readonly #open = new Set<Socket<Data>>();
  /** set while draining: called when the last connection has closed */
  #allClosed: (() => void) | undefined;

  get size(): number {
    return this.#open.size;
  }

  add(socket: Socket<Data>): void {
    this.#open.add(socket);
  }

  delete(socket: Socket<Data>): void {
    this.#open.delete(socket);
    if (this.#open.size === 0) this.#allClosed?.();
  }

  /** Waits until every connection has closed, or `grace` has passed; cuts what is left. Resolves to whether any was cut. */
  async drain(grace: Promise<void>): Promise<boolean> {
    const closed = new Promise<void>((resolve) => (this.#open.size === 0 ? resolve() : (this.#allClosed = resolve)));
    await Promise.race([closed, grace]);
    const forced = this.#open.size > 0;
    for (const socket of this.#open) socket.terminate();
    return forced;
  }
}
