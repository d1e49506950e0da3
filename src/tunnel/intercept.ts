/**
 * @module
 * CONNECT interception for `-intercept-hosts` (Skipper's TODO: routes and bearerinjector for
 * `https_proxy` clients). The CONNECT has passed the egress policy; it is answered 200, and the
 * client's TLS is terminated right there with a leaf certificate for the CONNECT's host, signed by
 * our CA (`-intercept-ca-cert`). The plaintext requests inside are relayed to the route engine,
 * pinned to that authority and sent on as https, so the upstream hop is TLS again and verified.
 *
 * The leaf is chosen from the CONNECT authority: the ClientHello has not arrived yet, and Bun's
 * server-side `upgradeTLS` cannot be handed bytes already read — so a client that sends its
 * handshake before the 200 is refused (400) instead. Every other CONNECT stays a blind tunnel.
 */
import type { Socket } from "bun";
import { badRequest } from "../exchange/errors.ts";
import type { Authority } from "../net/host-port.ts";
import { ESTABLISHED } from "./answer.ts";
import { clientSocketHandlers, type ForwardClient } from "./connect.ts";

/** What interception needs: which destinations, and their certificates. */
export interface InterceptOptions {
  /** whether `-intercept-hosts` names the destination */
  matches(host: string, port: number): boolean;
  /** a leaf for `host`, signed by the intercept CA (cached by the caller) */
  leafFor(host: string): Promise<{ readonly certPem: string; readonly keyPem: string }>;
}

/** Relays an intercepted tunnel's TLS socket (over the `raw` client socket) to the engine; `onClose` when it is over. */
export type RelayTls = (raw: Socket<ForwardClient>, tls: Socket<ForwardClient>, authority: Authority, onClose: () => void) => Promise<unknown>;

/**
 * What an intercepted tunnel carried, for its access-log line and `sallyport_tunnel_bytes_total`:
 * the decrypted application bytes on the client's TLS socket, not the raw TLS bytes. A blind
 * tunnel counts the bytes on the client's raw socket, but here Bun's TLS layer writes the
 * ciphertext to that socket natively (its `bytesWritten` stays at the 200's length), so raw
 * bytes could be counted one way only; the plaintext is counted both ways instead: `bytesIn`
 * what the client sent inside TLS (request heads as sent, before the rewrite), `bytesOut` what
 * it was sent back (answers, or the 400 of a request the relay refused). The TLS handshake and
 * record overhead are in neither.
 */
export interface TunnelBytes {
  readonly bytesIn: number;
  readonly bytesOut: number;
}

export interface Interception {
  matches(host: string, port: number): boolean;
  /** Answers 200 and terminates the client's TLS; resolves once the relay is open, rejects before the 200 is sent. */
  intercept(client: Socket<ForwardClient>, authority: Authority, early: readonly Uint8Array[], onClose: (bytes: TunnelBytes) => void): Promise<void>;
}

export function createInterception(options: InterceptOptions, relay: RelayTls): Interception {
  return {
    matches: (host, port) => options.matches(host, port),
    async intercept(client, authority, early, onClose) {
      if (early.some((chunk) => chunk.length > 0)) throw badRequest("an intercepted CONNECT must wait for the 200 before its TLS handshake");
      const leaf = await options.leafFor(authority.host);
      if (client.data.gone) return onClose({ bytesIn: 0, bytesOut: 0 });
      client.write(ESTABLISHED);
      client.data.intercepted = true;
      let bytesIn = 0;
      const [, tls] = client.upgradeTLS<ForwardClient>({
        // Not in bun-types, but what makes this side the TLS server (bun-notes §3).
        ...({ isServer: true } as object),
        tls: { cert: leaf.certPem, key: leaf.keyPem },
        data: { peer: client.data.peer, identity: client.data.identity, early: [] },
        socket: {
          ...clientSocketHandlers,
          data(socket, chunk) {
            bytesIn += chunk.length;
            clientSocketHandlers.data!(socket, chunk);
          },
        },
      });
      tls.pause();
      // The relay's tunnel writes the engine's answers to `tls`: its down flow counts them.
      await relay(client, tls, authority, () => onClose({ bytesIn, bytesOut: tls.data.tunnel?.down.bytes ?? 0 }));
      tls.resume();
      client.resume();
    },
  };
}
