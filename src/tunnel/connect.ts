/**
 * @module
 * Opening a tunnel: dial exactly the address the egress policy checked, within the dial timeout
 * (`-timeout-backend`: we own the socket here, unlike with fetch), then pipe the client and the
 * upstream both ways. The client socket's handlers come from {@link clientSocketHandlers}; they
 * hold bytes the client sends before the upstream is open and pass the rest to the tunnel.
 */
import type { Socket, SocketHandler } from "bun";
import { clientGone, ProxyError } from "../exchange/errors.ts";
import type { ClientIdentity } from "../tls/identity.ts";
import type { Clock } from "../util/clock.ts";
import { Tunnel } from "./pipe.ts";

/** What a client socket of a tunnel carries (`socket.data`). */
export interface TunnelClient {
  tunnel?: Tunnel;
  /** bytes that arrived before the tunnel was open, in order */
  early: Uint8Array[];
  /** the client went away before the tunnel was open */
  gone?: boolean;
  /** the client sent its FIN before the tunnel was open: passed on after the early bytes */
  finished?: boolean;
  /** where the client's bytes go once the tunnel is open; default straight up it (a relay frames them first) */
  feed?: (chunk: Uint8Array) => void;
}

/** What a forward-port client socket carries. */
export interface ForwardClient extends TunnelClient {
  /** the client's address, no port */
  readonly peer: string;
  /** its TLS client certificate's identity, on a TLS forward port with -tls-client-auth */
  identity?: ClientIdentity | undefined;
  /** its TLS was terminated by us (./intercept.ts): this raw socket's data is ciphertext, ignored */
  intercepted?: boolean;
}

export interface DialTarget {
  /** an IP address, never a name: the policy checked this very address */
  readonly address: string;
  readonly port: number;
}

export interface OpenOptions {
  readonly clock: Clock;
  /** ms to wait for the TCP connection (-timeout-backend); 0 = no limit */
  readonly timeout: number;
  /** runs once when the tunnel is over, however it ends */
  readonly onClose?: () => void;
  /** runs when the upstream socket is open, before any byte goes either way */
  readonly onOpen?: (upstream: Socket<undefined>) => void;
  /** sent to the client before anything from upstream (a CONNECT's 200) */
  readonly greeting?: Uint8Array;
}

/**
 * How every tunnel dials its upstream: `Bun.connect`, read from this object at each dial. Only a
 * test replaces it, with a tripwire that fails if a refused destination is ever dialed
 * (test/egress/refused-before-dial.test.ts); an object here rather than an option, so CONNECT, SNI
 * and the relay engine need not pass it along; a dial costs one property read more, no allocation.
 */
export const tunnelConnector: { connect: typeof Bun.connect } = { connect: Bun.connect };

/**
 * Dials `target` and, once it is open, ties it to `client` in a {@link Tunnel}. Rejects with a
 * ProxyError — 502 `dial-failed`, 504 `dial-timeout` — before anything was sent to the client, so
 * the caller can still answer the CONNECT with an HTTP error.
 */
export function openTunnel(client: Socket<TunnelClient>, target: DialTarget, options: OpenOptions): Promise<Tunnel> {
  const { promise, resolve, reject } = Promise.withResolvers<Tunnel>();
  let settled = false;
  const fail = (err: ProxyError) => {
    if (settled) return;
    settled = true;
    timer?.cancel();
    reject(err);
  };
  const where = `${target.address.includes(":") ? `[${target.address}]` : target.address}:${target.port}`;
  const timer =
    options.timeout > 0
      ? options.clock.setTimeout(() => {
          fail(new ProxyError(504, "dial-timeout", `Gateway Timeout: no connection to ${where} within ${options.timeout} ms`));
          pendingSocket?.then((s) => s.terminate(), () => {});
        }, options.timeout)
      : undefined;
  const pendingSocket: Promise<Socket<undefined>> | undefined = tunnelConnector.connect({
    hostname: target.address,
    port: target.port,
    allowHalfOpen: true,
    socket: {
      open(upstream) {
        if (settled) return void upstream.terminate();
        // The client left while we dialed: nothing to tie it to. Settled now, or the CONNECT would
        // wait for the dial timer (for ever with -timeout-backend 0) and count as a dial timeout.
        if (client.data.gone) {
          upstream.terminate();
          return fail(clientGone());
        }
        settled = true;
        timer?.cancel();
        const tunnel = new Tunnel(client, upstream, options.onClose);
        client.data.tunnel = tunnel;
        options.onOpen?.(upstream);
        if (options.greeting) tunnel.down.push(options.greeting);
        for (const chunk of client.data.early.splice(0)) feed(client, tunnel, chunk);
        if (client.data.finished) tunnel.up.end();
        resolve(tunnel);
      },
      data: (_u, chunk) => client.data.tunnel?.down.push(chunk),
      drain: () => client.data.tunnel?.up.drain(),
      end: () => client.data.tunnel?.down.end(),
      close: (_u, err) => (err ? client.data.tunnel?.abort() : client.data.tunnel?.upstreamClosed()),
      error: () => client.data.tunnel?.abort(),
      connectError: (_u, err) => fail(new ProxyError(502, "dial-failed", `Bad Gateway: cannot connect to ${where}`, { cause: err })),
    },
  });
  pendingSocket.catch((err: unknown) => fail(new ProxyError(502, "dial-failed", `Bad Gateway: cannot connect to ${where}`, { cause: err })));
  return promise;
}

/** The client side's socket handlers: early bytes are held, then everything goes to the tunnel. */
export const clientSocketHandlers: Pick<SocketHandler<TunnelClient>, "data" | "drain" | "end" | "close" | "error"> = {
  data(client, chunk) {
    if (client.data.tunnel) feed(client, client.data.tunnel, chunk);
    // Copied: the chunk is only ours during this call.
    else client.data.early.push(chunk.slice());
  },
  drain: (client) => client.data.tunnel?.down.drain(),
  end(client) {
    if (client.data.tunnel) client.data.tunnel.up.end();
    else client.data.finished = true;
  },
  close(client) {
    client.data.gone = true;
    client.data.tunnel?.abort();
  },
  error(client) {
    client.data.gone = true;
    client.data.tunnel?.abort();
  },
};

function feed(client: Socket<TunnelClient>, tunnel: Tunnel, chunk: Uint8Array): void {
  const feed = client.data.feed;
  if (feed) feed(chunk);
  else tunnel.up.push(chunk);
}
