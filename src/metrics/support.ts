/**
 * @module
 * The support listener (-support-listener, default :9911): `/healthz` (alive), `/readyz` (ready
 * for traffic: 503 once draining), `/routes`, the live
 * table printed as eskip (HEAD gives only `X-Count`, as in Skipper), and `/metrics` in the
 * Prometheus text format (./index.ts). Never on the proxy port, so a route cannot shadow it and
 * clients of the proxy cannot read it.
 */
import { lastResort } from "../exchange/errors.ts";
import { serveListener, type Listener } from "../net/listener.ts";
import { FALLBACK_BANNER } from "../routing/fallback.ts";
import type { RoutingTable } from "../routing/table.ts";
import { splitTarget } from "../util/url-path.ts";
import type { Metrics } from "./index.ts";
import { CONTENT_TYPE } from "./text.ts";

export interface SupportOptions {
  readonly table: () => RoutingTable;
  /** the forward port's built-in fallback table, printed after the configured routes when the port is on */
  readonly fallback?: RoutingTable | undefined;
  /** routes and secrets loaded and listeners bound, and not draining: `/readyz`, for load balancers */
  readonly ready: () => boolean;
  /** what `/metrics` serves; without it `/metrics` is 404 */
  readonly metrics?: Pick<Metrics, "render"> | undefined;
  /** `/debug/explain?…` (-enable-debug-explain): what the proxy would do with a request; without it 404 */
  readonly explain?: ((query: URLSearchParams) => Promise<Response>) | undefined;
}

export function createSupportHandler(options: SupportOptions) {
  return function support(req: Request): Response | Promise<Response> {
    // Not new URL(): an HTTP/1.0 health check without Host gives a relative req.url.
    const { path, rawQuery } = splitTarget(req.url);
    switch (path) {
      // Alive: the process answers. Kubernetes restarts a pod whose liveness fails, so draining is not a failure here.
      case "/healthz":
        return text("ok\n");
      case "/readyz":
        return options.ready() ? text("ready\n") : text("draining\n", 503);
      case "/routes": {
        const table = options.table();
        const headers = { "x-count": String(table.routes.length) };
        if (req.method === "HEAD") return new Response(null, { headers });
        return text(printRoutes(table, options.fallback), 200, headers);
      }
      case "/metrics":
        return options.metrics ? new Response(req.method === "HEAD" ? null : options.metrics.render(), { headers: { "content-type": CONTENT_TYPE } }) : notFound();
      case "/debug/explain":
        return options.explain ? options.explain(new URLSearchParams(rawQuery)) : notFound();
      default:
        return notFound();
    }
  };
}

/** The support listener's name in logs and metrics; the app drains it after the others. */
export const SUPPORT_LISTENER = "support";

export interface SupportListenerOptions extends SupportOptions {
  readonly hostname: string;
  readonly port: number;
  /** the drain deadline's wait, on the one clock */
  readonly wait: (ms: number) => Promise<void>;
  /** where a bug in the handler is reported */
  readonly onError: (err: Error) => void;
}

export function supportListener(options: SupportListenerOptions): Listener {
  return serveListener({
    // a worker's support listener is its own; the primary gathers them
    private: true,
    name: SUPPORT_LISTENER,
    flag: "-support-listener",
    hostname: options.hostname,
    port: options.port,
    wait: options.wait,
    serve: { ...lastResort(options.onError), fetch: createSupportHandler(options) },
  });
}

/** The configured routes, then the fallback table under its banner; X-Count counts the configured ones, as in Skipper. */
function printRoutes(table: RoutingTable, fallback: RoutingTable | undefined): string {
  const lines = (eskip: string) => (eskip && !eskip.endsWith("\n") ? eskip + "\n" : eskip);
  const configured = lines(table.toEskip());
  return fallback ? `${configured}${configured ? "\n" : ""}${FALLBACK_BANNER}\n${lines(fallback.toEskip())}` : configured;
}

const notFound = () => text("Not Found\n", 404);

const text = (body: string, status = 200, headers: Record<string, string> = {}) =>
  new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8", ...headers } });
