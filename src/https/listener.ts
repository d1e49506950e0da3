/**
 * @module
 * `-address` behind a raw front, where Bun.serve alone cannot do what is asked: over TLS
 * (`-tls-cert`/`-tls-key`, and client certificates with `-tls-client-auth`), and under
 * `-enable-tcp-queue`, which needs to hold connections before they are read.
 *
 * Bun.serve keeps the TLS context it started with and tells a handler nothing about a client's
 * certificate, nor about connections at all, so the port is a raw front (../tls/listen.ts) that
 * admits connections (../net/admission.ts), terminates TLS per connection with the certificate
 * current at accept — a rotation needs no restart — and relays the plaintext, untouched, to the
 * same route engine a plain `-address` runs, on a private loopback listener
 * (../tunnel/engine.ts). Requests on a connection carry its client's address and certificate
 * identity into their exchange records and the egress policy. The relay costs a hop: a plain
 * `-address` without the queue is Bun.serve itself.
 *
 * A client certificate that is refused is answered `403 client-certificate` and the connection
 * closed, so the client learns why instead of seeing a reset.
 */
import type { Socket, TCPSocketListener } from "bun";
import type { Admission } from "../net/admission.ts";
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

export interface FrontedListenerOptions extends Omit<ProxyListenerOptions, "relayed" | "name" | "flag" | "listener"> {
  /** TLS on every connection; plain when unset */
  readonly tls?: ServingTls | undefined;
  /** -tls-handshake-timeout, ms */
  readonly handshakeTimeout: number;
  /** -enable-tcp-queue: how many connections are served at once */
  readonly admission?: Admission<Socket<unknown>> | undefined;
  readonly exchanges: Exchanges;
}

const LISTENER = "proxy";

export function frontedListener(options: FrontedListenerOptions): Listener {
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
        listenFront<ForwardClient>({ flag: "-address", hostname: options.hostname, port: options.port, tls: options.tls, handshakeTimeout: options.handshakeTimeout, clock, admission: options.admission }, {
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
