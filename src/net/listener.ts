/**
 * @module
 * The ways in, as one shape: every listener (the proxy port, the support port, later the forward
 * and SNI ports) is a {@link Listener} the app starts in order, reports, and drains in order.
 *
 * Bun sets SO_REUSEPORT on a production Bun.serve unless told otherwise, so a second sallyport on
 * a port in use would start silently and the kernel would split connections between the two (and
 * `-address` equal to `-support-listener` would serve /routes on the proxy port half the time).
 * {@link serveListener} binds exclusively, unless this process is one of `-workers` serving the
 * same ports ({@link sharePorts}): then SO_REUSEPORT lets the kernel spread connections over them,
 * and the primary has checked the ports were free before starting the workers.
 */
import type { Serve, Server } from "bun";

let shared = false;

/** Called once by a `-workers` worker before it starts: its traffic listeners share their ports. */
export function sharePorts(): void {
  shared = true;
}

/** Whether this process's traffic listeners bind shared ({@link sharePorts}). */
export const portsShared = (): boolean => shared;

/** How a stop ended: everything finished within the grace, or what was left was cut. */
export type StopState = "drained" | "forced";

export interface Listener {
  /** for logs and errors, e.g. `proxy` */
  readonly name: string;
  /** Binds and starts serving; resolves to the bound `host:port` (port 0 resolved). Throws {@link ListenError}. */
  start(): Promise<string>;
  /**
   * Stops accepting, lets in-flight work finish for at most `graceMs`, then closes what is left;
   * resolves to whether anything had to be closed.
   */
  stop(graceMs: number): Promise<StopState>;
  /**
   * What is open right now, for metrics: connections where the listener owns its sockets, else
   * (Bun.serve, which counts no connections) the requests in flight.
   */
  readonly open: number;
}

/** A listener that could not bind; the message names the flag and the address. */
export class ListenError extends Error {}

/** What binding failures mean, in words an operator can act on. */
const BIND_ERRORS: Record<string, string> = {
  EADDRINUSE: "address already in use (is another sallyport or another server running on it?)",
  EADDRNOTAVAIL: "address not available on this machine",
  EACCES: "permission denied (ports below 1024 need privileges)",
};

export interface ServeListenerOptions {
  readonly name: string;
  /** the flag the address came from, for errors: `-address` */
  readonly flag: string;
  readonly hostname: string;
  readonly port: number;
  /** everything else Bun.serve takes: fetch, error, timeouts */
  readonly serve: Omit<Serve.Options<undefined>, "hostname" | "port" | "reusePort" | "unix">;
  /** resolves after `ms` (the drain deadline goes through the one clock) */
  readonly wait: (ms: number) => Promise<void>;
  /** never shared with other workers, e.g. a worker's private support listener */
  readonly private?: boolean;
}

/** A Bun.serve listener bound exclusively (or shared by `-workers`), drained with `server.stop(false)` and then forced. */
export function serveListener(options: ServeListenerOptions): Listener {
  let server: Server<undefined> | undefined;
  return {
    name: options.name,
    get open() {
      return server?.pendingRequests ?? 0;
    },
    async start() {
      try {
        server = Bun.serve({ ...options.serve, hostname: options.hostname, port: options.port, reusePort: shared && !options.private } as Serve.Options<undefined>);
      } catch (e) {
        throw bindFailure(options.flag, options.hostname, options.port, e);
      }
      return displayAddress(server.hostname ?? options.hostname, server.port ?? options.port);
    },
    async stop(graceMs) {
      if (!server) return "drained";
      // stop(false) closes the listener and resolves once in-flight requests are done; a response
      // that never ends (a stuck stream) must not keep the process from exiting.
      const drained = server.stop(false).then(() => true);
      const late = options.wait(graceMs).then(() => false);
      if (await Promise.race([drained, late])) return "drained";
      await server.stop(true);
      return "forced";
    },
  };
}

/** Why a listener could not bind, in words, naming its flag and address. */
export function bindFailure(flag: string, hostname: string, port: number, e: unknown): ListenError {
  const code = (e as NodeJS.ErrnoException).code ?? "";
  const why = BIND_ERRORS[code] ?? (e as Error).message;
  return new ListenError(`${flag} ${displayAddress(hostname, port)}: ${why}`, { cause: e });
}

export const displayAddress = (host: string, port: number): string => `${host.includes(":") ? `[${host}]` : host}:${port}`;
