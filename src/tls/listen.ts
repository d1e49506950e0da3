/**
 * @module
 * A raw-socket front that speaks TLS when it is given a {@link ServingTls}, and plain TCP when
 * not, with one set of handlers for both: the forward port's front and `-address` over TLS.
 *
 * Every accepted socket is upgraded on its own (server-side `upgradeTLS`) with the set the
 * ServingTls holds at that moment, which is how a rotated certificate reaches new connections
 * without a restart: Bun.serve and `Bun.listen({ tls })` keep the context they started with.
 * The handlers see plaintext on the TLS half; Bun still hands the raw half its ciphertext (and
 * reports the close on the TLS half only), so the raw half's handlers do nothing.
 *
 * Client certificates are requested with OpenSSL's own refusal turned off, and decided here, so
 * a refusal can be told (`refused`: the listener answers in HTTP) rather than being a reset:
 * - `require`: no certificate, or one `-tls-client-ca` does not verify → refused.
 * - `request`: no certificate → an anonymous client; one that does not verify → refused (a
 *   certificate that was offered and is wrong is never taken as no certificate, as in nginx's
 *   `ssl_verify_client optional`).
 * A handshake that fails, or is not done within `handshakeTimeout`, closes the connection.
 */
import type { Socket, SocketHandler, TCPSocketListener } from "bun";
import type { Admission } from "../net/admission.ts";
import { listenRaw } from "../net/raw-listener.ts";
import type { Clock, Timer } from "../util/clock.ts";
import { identityOf, type ClientIdentity } from "./identity.ts";
import type { ServingTls } from "./serving.ts";

export interface FrontHandlers<Data> extends Pick<SocketHandler<Data>, "data" | "drain" | "end" | "close" | "error"> {
  /** the socket's data, made when the connection is accepted */
  init(raw: Socket<Data>): Data;
  /** the connection is ready for requests (after the handshake, for TLS); `identity` from a verified client certificate */
  open(socket: Socket<Data>, identity: ClientIdentity | undefined): void;
  /** the client certificate is refused: the socket is open for an answer, and must be closed */
  refused(socket: Socket<Data>, why: string): void;
}

export interface FrontOptions {
  /** for bind errors: `-forward-address` */
  readonly flag: string;
  readonly hostname: string;
  readonly port: number;
  /** TLS on every connection; plain TCP when unset */
  readonly tls?: ServingTls | undefined;
  /** ms for the TLS handshake to complete; default 10 s, 0 = no limit */
  readonly handshakeTimeout?: number | undefined;
  readonly clock: Clock;
  /** -enable-tcp-queue: connections beyond the concurrency wait, unread and before any handshake */
  readonly admission?: Admission<Socket<unknown>> | undefined;
}

const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** What a TLS socket carries for us besides the listener's data, until it is open. */
interface Handshaking {
  timer: Timer | undefined;
  open: boolean;
  /** the TCP socket under it, whose admission slot its close frees (Bun reports no close of the raw half) */
  raw: Socket<unknown>;
}

export function listenFront<Data>(options: FrontOptions, handlers: FrontHandlers<Data>): TCPSocketListener<Data> {
  const { tls } = options;
  const admission = options.admission as Admission<Socket<Data>> | undefined;
  if (!tls) {
    const plain: SocketHandler<Data> = {
      ...handlers,
      open(socket) {
        socket.data = handlers.init(socket);
        handlers.open(socket, undefined);
      },
    };
    return listenRaw<Data>(options.flag, options.hostname, options.port, plain, admission);
  }
  // Handlers run for sockets that are open; close and error also for one still in its handshake.
  const state = new WeakMap<Socket<Data>, Handshaking>();
  const ifOpen =
    <A extends unknown[]>(handler: ((socket: Socket<Data>, ...args: A) => void) | undefined) =>
    (socket: Socket<Data>, ...args: A) => {
      if (state.get(socket)?.open) handler?.(socket, ...args);
    };
  const ended =
    <A extends unknown[]>(handler: ((socket: Socket<Data>, ...args: A) => void) | undefined) =>
    (socket: Socket<Data>, ...args: A) => {
      const shaking = state.get(socket);
      shaking?.timer?.cancel();
      if (shaking?.open) handler?.(socket, ...args);
    };
  const closed = ended(handlers.close);
  const secure: SocketHandler<Data> = {
    handshake(socket, success, authorizationError) {
      const shaking = state.get(socket);
      if (!shaking) return;
      shaking.timer?.cancel();
      if (!success) return void socket.terminate();
      const certificate = socket.getPeerCertificate();
      const presented = certificate !== undefined && certificate !== null && Object.keys(certificate).length > 0;
      shaking.open = true;
      if (presented && !socket.authorized) return handlers.refused(socket, `the client certificate is not trusted (${(authorizationError as NodeJS.ErrnoException | null)?.code ?? "unverified"})`);
      if (!presented && tls.clientAuth === "require") return handlers.refused(socket, "a client certificate is required");
      handlers.open(socket, presented ? identityOf(certificate) : undefined);
    },
    data: ifOpen(handlers.data),
    drain: ifOpen(handlers.drain),
    end: ifOpen(handlers.end),
    close(socket, err) {
      const raw = state.get(socket)?.raw;
      if (raw) admission?.release(raw as Socket<Data>);
      closed(socket, err);
    },
    error: ended(handlers.error),
  };
  const rawHandlers: SocketHandler<Data> = {
    open(raw) {
      const data = handlers.init(raw);
      const [, socket] = raw.upgradeTLS<Data>({
        // Not in bun-types, but what makes this side the TLS server (bun-notes §3).
        ...({ isServer: true } as object),
        tls: tls.options,
        data,
        socket: secure,
      });
      const shaking: Handshaking = { timer: undefined, open: false, raw: raw as Socket<unknown> };
      state.set(socket, shaking);
      const timeout = options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
      if (timeout > 0) shaking.timer = options.clock.setTimeout(() => socket.terminate(), timeout);
    },
    // Ciphertext, and a close Bun reports on the TLS half: nothing to do on the raw half.
    data() {},
  };
  return listenRaw<Data>(options.flag, options.hostname, options.port, rawHandlers, admission);
}
