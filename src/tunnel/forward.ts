/**
 * @module
 * The forward port (`-forward-address`): one port for `http_proxy` and `https_proxy` clients.
 * A raw `Bun.listen` front reads each connection's first request head itself (64 KiB → 431,
 * `-forward-head-timeout` → 408, malformed → 400), since Bun.serve can neither tunnel nor tell an
 * absolute-form target from its Host header (../../../shared/reference/bun-notes.md §1.4, §2):
 *
 * - `CONNECT host:port` becomes a tunnel (./connect-request.ts).
 * - Anything else is relayed over loopback TCP to the route engine: the proxy handler on a
 *   private Bun.serve, with the same routes and filters as `-address` and, behind them, the
 *   built-in fallback table. Every request head on the connection is rewritten on the way
 *   (./rewrite.ts, ./framer.ts), so the target's authority wins for kept-alive requests too. The
 *   engine learns whose request it serves from the relay socket's local port, which the front
 *   maps to the client's address; a connection it cannot map did not come through the front.
 * - A CONNECT to an `-intercept-hosts` destination is answered 200 and its TLS terminated with a
 *   leaf for that host (./intercept.ts); the requests inside are relayed to the engine like plain
 *   ones, pinned to the CONNECT's authority and sent on as https.
 */
import type { Socket, TCPSocketListener } from "bun";
import type { DialPlan } from "../egress/dial.ts";
import { badRequest, clientCertificateRefused, headTooLarge, ProxyError } from "../exchange/errors.ts";
import type { Exchanges } from "../exchange/record.ts";
import { peerAddress } from "../net/host-port.ts";
import { displayAddress, type Listener } from "../net/listener.ts";
import type { Admission } from "../net/admission.ts";
import { OpenSockets } from "../net/raw-listener.ts";
import type { ProxyListenerOptions } from "../proxy/listener.ts";
import { listenFront } from "../tls/listen.ts";
import type { ServingTls } from "../tls/serving.ts";
import type { Clock } from "../util/clock.ts";
import { errorBytes } from "./answer.ts";
import { clientSocketHandlers, openTunnel, type ForwardClient } from "./connect.ts";
import { refuse, serveConnect } from "./connect-request.ts";
import { RelayEngine } from "./engine.ts";
import { HEAD_TOO_LARGE, RequestFramer } from "./framer.ts";
import type { RequestHead } from "./head.ts";
import { HeadReader, type HeadOutcome } from "./head-reader.ts";
import { proxyUser, type ProxyAuth } from "./proxy-user.ts";
import { createInterception, type InterceptOptions } from "./intercept.ts";
import { pinnedRewrite, rewriteHead, type HeadRewrite } from "./rewrite.ts";

export interface ForwardListenerOptions extends Omit<ProxyListenerOptions, "hostname" | "port" | "relayed" | "listener" | "name" | "flag"> {
  readonly hostname: string;
  readonly port: number;
  /** -forward-head-timeout, ms */
  readonly headTimeout: number;
  /** -connect-ports */
  readonly connectPorts: readonly number[];
  readonly dialPlan: DialPlan;
  /** -forward-auth-file, when set */
  readonly auth?: ProxyAuth | undefined;
  /** -timeout-backend, ms: the CONNECT dial */
  readonly dialTimeout: number;
  /** -intercept-hosts with the CA's leaf certificates; unset: every CONNECT is a blind tunnel */
  readonly intercept?: InterceptOptions | undefined;
  /** -tls-cert: the port speaks TLS (an `https://` proxy to its clients); plain when unset */
  readonly tls?: ServingTls | undefined;
  /** -tls-handshake-timeout, ms (with `tls`) */
  readonly handshakeTimeout?: number | undefined;
  /** -enable-tcp-queue: how many connections are served at once */
  readonly admission?: Admission<Socket<unknown>> | undefined;
  readonly exchanges: Exchanges;
  readonly clock: Clock;
}

/** A forward-port connection: its head reader until the head is in, then a tunnel or a relay. */
interface Connection extends ForwardClient {
  reader: HeadReader | undefined;
}

const LISTENER = "forward";

/** The forward listener; `engineAddress` is where its route engine listens, once started (for tests). */
export interface ForwardListener extends Listener {
  readonly engineAddress: string | undefined;
}

export function forwardListener(options: ForwardListenerOptions): ForwardListener {
  const { clock, exchanges } = options;
  const engine = new RelayEngine({
    ...options,
    name: LISTENER,
    flag: "-forward-address",
    listener: LISTENER,
    relayed: { authenticate: (header) => proxyUser(options.auth, header), rewritesHeads: true },
  });
  // Bun reports an upgraded socket's close on its TLS half only: the raw client is forgotten with it.
  const interception =
    options.intercept &&
    createInterception(options.intercept, (raw, tls, authority, onClose) =>
      relayToEngine(tls, pinnedRewrite(authority), undefined, () => {
        onClose();
        forget(raw);
      }),
    );
  const connectOptions = { ...options, connectPorts: new Set(options.connectPorts), listener: LISTENER, auth: options.auth, intercept: interception };
  const open = new OpenSockets<Connection>();
  let front: TCPSocketListener<Connection> | undefined;
  const forget = (client: Socket<ForwardClient>) => open.delete(client as Socket<Connection>);

  function onHead(client: Socket<Connection>, outcome: HeadOutcome): void {
    client.data.reader = undefined;
    if (outcome.kind === "head") {
      const rest = outcome.bytes.subarray(outcome.length);
      if (outcome.head.method === "CONNECT") return void serveConnect(client, outcome.head, rest, connectOptions);
      return relay(client, outcome.head, outcome.bytes);
    }
    const record = exchanges.begin(LISTENER, client.data.peer, "", "", "");
    const error =
      outcome.kind === "timeout"
        ? new ProxyError(408, "request-timeout", `Request Timeout: no complete request head within ${options.headTimeout} ms`)
        : outcome.kind === "too-large"
          ? headTooLarge("64 KiB")
          : badRequest(outcome.reason);
    refuse(client, record, error, exchanges);
  }

  /** Hands an HTTP connection to the engine, every head rewritten on the way. */
  function relay(client: Socket<Connection>, head: RequestHead, bytes: Uint8Array): void {
    // The first head is checked before anything is relayed, so the client can be told why.
    const first = rewriteHead(head, bytes);
    if ("stop" in first) {
      return refuse(client, exchanges.begin(LISTENER, client.data.peer, head.method, "", ""), badRequest(first.stop), exchanges);
    }
    client.pause();
    relayToEngine(client, rewriteHead, bytes).then(
      () => client.resume(),
      (err: unknown) => refuse(client, exchanges.begin(LISTENER, client.data.peer, head.method, "", ""), new ProxyError(500, "internal", "Internal Server Error", { cause: err }), exchanges),
    );
  }

  /**
   * Ties `client` (a plain connection, or an intercepted tunnel's TLS socket) to a new connection
   * to the engine; what the client sends goes through the framer, each head rewritten by `rewrite`.
   * What the framer passes on from one chunk is held until the chunk has been read: a first
   * request whose framing breaks within its first chunk is refused here, and nothing of it
   * reaches the engine.
   */
  function relayToEngine(client: Socket<ForwardClient>, rewrite: HeadRewrite, first: Uint8Array | undefined, onClose?: () => void): Promise<unknown> {
    let relayedBytes = 0;
    const held: Uint8Array[] = [];
    const flush = () => {
      for (const bytes of held) {
        relayedBytes += bytes.length;
        client.data.tunnel!.up.push(bytes);
      }
      held.length = 0;
    };
    let bodyFault: ProxyError | undefined;
    const framer = new RequestFramer({
      head: rewrite,
      out: (bytes) => void held.push(bytes),
      onStop: (reason, inBody) => {
        const tunnel = client.data.tunnel!;
        const error = reason === HEAD_TOO_LARGE ? headTooLarge("64 KiB") : badRequest(reason);
        if (relayedBytes === 0 && framer.requests <= 1) {
          // Nothing relayed yet, and nothing held of an earlier request: the client is told why, here.
          held.length = 0;
          const record = exchanges.begin(LISTENER, client.data.peer, "", "", "");
          [record.status, record.cause] = [error.status, error.reason];
          exchanges.complete(record);
          tunnel.down.push(errorBytes(error));
          tunnel.up.end();
          tunnel.down.end();
          return;
        }
        // The engine finishes what it has, then both sides close; a body cut short is the request's failure.
        if (inBody) bodyFault = error;
        flush();
        tunnel.up.end();
      },
    });
    client.data.feed = (chunk) => {
      framer.push(chunk);
      flush();
    };
    if (first) client.data.early.push(first);
    return engine.connect(client, { peer: client.data.peer, identity: client.data.identity, bodyFault: () => bodyFault }, onClose);
  }

  return {
    name: LISTENER,
    get engineAddress() {
      return engine.address;
    },
    get open() {
      return open.size;
    },
    async start() {
      front = await engine.startWith(() =>
        listenFront<Connection>({ flag: "-forward-address", hostname: options.hostname, port: options.port, tls: options.tls, handshakeTimeout: options.handshakeTimeout, clock, admission: options.admission }, {
          init: (client) => ({ peer: peerAddress(client.remoteAddress), early: [], reader: undefined }),
          open(client, identity) {
            client.data.identity = identity;
            client.data.reader = new HeadReader({ clock, timeout: options.headTimeout, done: (outcome) => onHead(client, outcome) });
            open.add(client);
          },
          refused(client, why) {
            open.add(client);
            refuse(client, exchanges.begin(LISTENER, client.data.peer, "", "", ""), clientCertificateRefused(why), exchanges);
          },
          data(client, chunk) {
            // An intercepted tunnel's ciphertext still comes here too (Bun); its TLS socket has the plaintext.
            if (client.data.intercepted) return;
            if (client.data.reader) client.data.reader.push(chunk);
            else clientSocketHandlers.data!(client, chunk);
          },
          drain: clientSocketHandlers.drain,
          end(client) {
            // A client that stops sending before its head is complete gets nothing.
            if (client.data.reader) return void client.terminate();
            clientSocketHandlers.end!(client);
          },
          close(client, err) {
            client.data.reader?.cancel();
            clientSocketHandlers.close!(client, err);
            forget(client);
          },
          error(client, err) {
            client.data.reader?.cancel();
            clientSocketHandlers.error!(client, err);
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
