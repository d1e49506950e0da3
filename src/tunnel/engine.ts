/**
 * @module
 * The route engine behind a raw-socket front: the proxy handler on a private Bun.serve at
 * 127.0.0.1, and the loopback connections a front opens to it, one per client connection. The
 * engine learns whose request it serves from the relay connection's local port, which
 * {@link RelayEngine.connect} maps to the client (its address, its TLS identity) while the relay
 * is open; a connection it cannot map did not come through the front, and is refused (421).
 */
import type { Socket } from "bun";
import type { StopState } from "../net/listener.ts";
import type { OpenSockets } from "../net/raw-listener.ts";
import type { RelayedClient, RelayedFrom } from "../proxy/handler.ts";
import { proxyListener, type ProxyListenerOptions } from "../proxy/listener.ts";
import { openTunnel, type TunnelClient } from "./connect.ts";
import type { Tunnel } from "./pipe.ts";

export interface RelayEngineOptions extends Omit<ProxyListenerOptions, "hostname" | "port" | "relayed"> {
  /** the front's flag, for the engine's bind errors */
  readonly flag: string;
  /** what the engine takes from the front besides the client: proxy users, the scheme header */
  readonly relayed: Omit<RelayedFrom, "client">;
}

export class RelayEngine {
  /** relay socket local port → the client it carries */
  readonly #clients = new Map<number, RelayedClient>();
  readonly #engine;
  #port = 0;
  #address: string | undefined;

  constructor(readonly options: RelayEngineOptions) {
    this.#engine = proxyListener({
      ...options,
      name: `${options.name ?? "proxy"}-engine`,
      flag: `${options.flag} (its internal engine)`,
      hostname: "127.0.0.1",
      port: 0,
      // each worker's engine is its own: relayed connections must come back to this process
      private: true,
      relayed: { ...options.relayed, client: (req, server) => this.#clients.get(server.requestIP(req)?.port ?? -1) },
    });
  }

  /** where the engine listens, once started (for tests) */
  get address(): string | undefined {
    return this.#address;
  }

  /** Starts the engine, then binds the front with `bind`; a front that cannot bind stops the engine again. */
  async startWith<Front>(bind: () => Front): Promise<Front> {
    this.#address = await this.#engine.start();
    this.#port = Number(this.#address.slice(this.#address.lastIndexOf(":") + 1));
    try {
      return bind();
    } catch (e) {
      await this.#engine.stop(0);
      throw e;
    }
  }

  /**
   * Drains after the front stopped accepting: relayed HTTP in the engine, and the front's own
   * connections (tunnels, relays) get the same grace, then are cut.
   */
  async drain(front: OpenSockets<unknown>, graceMs: number): Promise<StopState> {
    const [state, forced] = await Promise.all([this.#engine.stop(graceMs), front.drain(this.options.clock.sleep(graceMs))]);
    return state === "forced" || forced ? "forced" : "drained";
  }

  /** Ties `client` to a new connection to the engine, on which requests are `who`'s; `onClose` when it is over. */
  connect(client: Socket<TunnelClient>, who: RelayedClient, onClose?: () => void): Promise<Tunnel> {
    let port = -1;
    return openTunnel(client, { address: "127.0.0.1", port: this.#port }, {
      clock: this.options.clock,
      timeout: 0,
      onOpen: (upstream) => this.#clients.set((port = upstream.localPort), who),
      onClose: () => {
        this.#clients.delete(port);
        onClose?.();
      },
    });
  }
}
