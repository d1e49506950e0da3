/**
 * @module
 * The proxy listener (`-address`): Bun.serve running the proxy handler, bound exclusively.
 */
import { lastResort } from "../exchange/errors.ts";
import { serveListener, type Listener } from "../net/listener.ts";
import type { Clock } from "../util/clock.ts";
import { createHandler, type ProxyLog, type ProxyOptions } from "./handler.ts";

export interface ProxyListenerOptions extends Omit<ProxyOptions, "idleTimeout"> {
  /** the listener's name and flag, for logs and bind errors; default `proxy`, `-address` */
  readonly name?: string;
  readonly flag?: string;
  readonly hostname: string;
  readonly port: number;
  /** -idle-timeout-server, ms */
  readonly idleTimeoutMs: number;
  readonly clock: Clock;
  readonly log: ProxyLog;
  /** never shared with other workers (an engine behind a front) */
  readonly private?: boolean;
}

export function proxyListener(options: ProxyListenerOptions): Listener {
  // Bun's idle timer is in whole seconds, at most 255; 0 turns it off.
  const idleTimeout = Math.min(255, Math.ceil(options.idleTimeoutMs / 1000));
  return serveListener({
    name: options.name ?? "proxy",
    flag: options.flag ?? "-address",
    hostname: options.hostname,
    port: options.port,
    private: options.private,
    wait: (ms) => options.clock.sleep(ms),
    serve: {
      ...lastResort((err) => options.log.error(`internal error: ${err?.stack ?? err}`)),
      fetch: createHandler({ ...options, idleTimeout }),
      idleTimeout,
      // An egress proxy streams bodies of any size; Skipper's -max-content-length defaults to none.
      maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    },
  });
}
