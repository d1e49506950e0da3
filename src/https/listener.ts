/**
 * @module
 * `-address` over TLS (`-tls-cert`/`-tls-key`, and client certificates with `-tls-client-auth`).
 * Bun.serve keeps the TLS context it started with and tells a handler nothing about a client's
 * certificate, so the port is a raw front (../tls/listen.ts) that terminates TLS per connection
 * with the certificate current at accept — a rotation needs no restart — and relays the
 * plaintext, untouched, to the same route engine a plain `-address` runs, on a private loopback
 * listener (../tunnel/engine.ts). Requests on a connection carry its client's address and
 * certificate identity into their exchange records and the egress policy.
 *
 * A client certificate that is refused is answered `403 client-certificate` and the connection
 * closed, so the client learns why instead of seeing a reset.
 */
import type { TCPSocketListener } from "bun";
import { clientCertificateRefused, ProxyError } from "../exchange/errors.ts";
import type { Exchanges } from "../exchange/record.ts";
import { peerAddress } from "../net/host-port.ts";
import { displayAddress, type Listener } from "../net/listener.ts";
import { OpenSockets } from "../net/raw-listener.ts";
import type { ProxyListenerOptions } from "../proxy/listener.ts";
import { listenFront } from "../tls/listen.ts";
import type { ServingTls } from "../tls/serving.ts";
import { clientSocketHandlers, type ForwardClient } from "../tunnel/connect.ts";
import { refuse } from "../tunnel/connect-request.ts";
import { RelayEngine } from "../tunnel/engine.ts";

export interface HttpsListenerOptions extends Omit<ProxyListenerOptions, "relayed" | "name" | "flag" | "listener"> {
  readonly tls: ServingTls;
  /** -tls-handshake-timeout, ms */
  readonly handshakeTimeout: number;
  readonly exchanges: Exchanges;
}

const LISTENER = "proxy";

export function httpsListener(options: HttpsListenerOptions): Listener {
  const { clock, exchanges } = options;
  // A blind relay: the client's bytes reach the engine as sent, so nothing it says is taken as the front's word.
  const engine = new RelayEngine({ ...options, name: LISTENER, flag: "-address", listener: LISTENER, relayed: {} });
  const open = new OpenSockets<ForwardClient>();
  let front: TCPSocketListener<ForwardClient> | undefined;
  const failed = (peer: string) => exchanges.begin(LISTENER, peer, "", "", "");

  return {
    name: LISTENER,
    get open() {
      return open.size;
    },
    async start() {
      front = await engine.startWith(() =>
        listenFront<ForwardClient>({ flag: "-address", hostname: options.hostname, port: options.port, tls: options.tls, handshakeTimeout: options.handshakeTimeout, clock }, {
          init: (raw) => ({ peer: peerAddress(raw.remoteAddress), early: [] }),
          open(client, identity) {
            open.add(client);
            client.data.identity = identity;
            client.pause();
            engine.connect(client, { peer: client.data.peer, identity }).then(
              () => client.resume(),
              (err: unknown) => refuse(client, failed(client.data.peer), new ProxyError(500, "internal", "Internal Server Error", { cause: err }), exchanges),
            );
          },
          refused(client, why) {
            open.add(client);
            refuse(client, failed(client.data.peer), clientCertificateRefused(why), exchanges);
          },
          ...clientSocketHandlers,
          close(client, err) {
            clientSocketHandlers.close!(client, err);
            open.delete(client);
          },
        }),
      );
      return displayAddress(options.hostname, front.port);
    },
    async stop(graceMs) {
      front?.stop();
      return engine.drain(open, graceMs);
    },
  };
}
