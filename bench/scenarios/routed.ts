/**
 * @module
 * Scenario 1, the routed hot path: wrk sends `Host: bench` through each reverse proxy to the
 * nginx upstream, in every routed shape of the mode (keep-alive at two concurrencies, 1 KiB and
 * 64 KiB bodies, a new connection per request). sallyport's route is the issue's,
 * `Host("bench") -> setRequestHeader("Authorization", "Bearer x") -> upstream`; nginx, haproxy and
 * squid set the same header; the Bun.serve+fetch floor only proxies; direct is wrk straight to
 * the upstream.
 */
import { type Contender, runRounds, startAll, stopStarted } from "../rounds.ts";
import { seriesTable } from "../results.ts";
import { startSallyportRouted } from "../sallyports.ts";
import { direct, ROUTED_HOST, startBunBaseline, startHaproxy, startNginxProxy, startSquid } from "../servers.ts";
import { wrkLoad, wrkTitle } from "./loads.ts";
import { type Ctx, missing, type Scenario, targetsOf, wrkSeconds } from "./types.ts";

export const FLOOR = "Bun.serve+fetch floor";
export const WORKERS_2 = "sallyport -workers 2";
export const NGINX_2 = "nginx 2 workers";

function contenders(ctx: Ctx): Contender[] {
  const { dir, bin, upstream, tools } = ctx;
  return [
    { name: "direct", start: async () => direct(upstream, ROUTED_HOST) },
    { name: "sallyport", start: () => startSallyportRouted(dir, bin, upstream.port) },
    // two processes sharing the port (the default on this 2-core machine), beside nginx with two
    { name: WORKERS_2, start: () => startSallyportRouted(dir, bin, upstream.port, { tag: "-workers", name: WORKERS_2, flags: ["-workers", "2"] }) },
    { name: FLOOR, start: () => startBunBaseline(dir, upstream.url) },
    { name: "nginx", start: () => startNginxProxy(dir, tools.nginx!, upstream.port) },
    { name: NGINX_2, start: () => startNginxProxy(dir, tools.nginx!, upstream.port, 2) },
    { name: "haproxy", unavailable: missing(ctx, "haproxy"), start: () => startHaproxy(dir, tools.haproxy!, upstream.port) },
    { name: "squid", unavailable: missing(ctx, "squid"), start: () => startSquid(dir, tools.squid!, upstream.port) },
  ];
}

export const routed: Scenario = {
  id: "routed",
  title: "1. Routed hot path",
  estimateSeconds: (mode) => wrkSeconds(mode, 6, mode.routedShapes.length),
  async run(ctx) {
    const started = await startAll(ctx, "routed", contenders(ctx));
    try {
      const shapes = ctx.mode.routedShapes;
      const series = await runRounds(ctx, "routed", started, shapes.map((s) => wrkLoad(ctx, s)), ctx.mode.rounds);
      return {
        id: "routed",
        title: this.title,
        measures: `req/s and latency of \`GET /1k\` or \`/64k\` with \`Host: ${ROUTED_HOST}\` through each reverse proxy to the nginx upstream, ${ctx.mode.rounds} round(s) of ${ctx.mode.seconds} s per shape and contender, round-robin; × floor is against the Bun.serve+fetch floor, what any proxy on Bun costs at least.`,
        tables: shapes.map((s, i) => seriesTable(`routed/${s.id}`, wrkTitle(ctx, s), "req/s", series[i]!, { "× direct": "direct", "× floor": FLOOR })),
        targets: targetsOf(started),
        notes: [],
      };
    } finally {
      await stopStarted(started);
    }
  },
};
