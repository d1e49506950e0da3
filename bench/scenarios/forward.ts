/**
 * @module
 * Scenario 2, the forward proxies: wrk as an http_proxy client (absolute-form requests,
 * bench/absolute-form.lua) through sallyport's forward port, squid and tinyproxy; then curl
 * downloads of the big file through each one's CONNECT tunnel, as an https_proxy client would
 * use it, against the same curl straight to the upstream.
 */
import { sizeLabel } from "../modes.ts";
import { type Contender, runRounds, startAll, type Started, stopStarted } from "../rounds.ts";
import { seriesTable } from "../results.ts";
import { startSallyportForward } from "../sallyports.ts";
import { BIG_PATH, direct, startSquidForward, startTinyproxy } from "../servers.ts";
import { transferLoad, wrkLoad, wrkTitle } from "./loads.ts";
import { type Ctx, missing, type Scenario, targetsOf, wrkSeconds } from "./types.ts";

export const SQUID_FORWARD = "squid forward proxy";

function contenders(ctx: Ctx): Contender[] {
  const { dir, bin, upstream, tools } = ctx;
  return [
    { name: "sallyport forward port", start: () => startSallyportForward(dir, bin, upstream) },
    { name: SQUID_FORWARD, unavailable: missing(ctx, "squid"), start: () => startSquidForward(dir, tools.squid!, upstream) },
    { name: "tinyproxy", unavailable: missing(ctx, "tinyproxy"), start: () => startTinyproxy(dir, tools.tinyproxy!, upstream) },
  ];
}

/** Seconds per big transfer assumed by the estimate (loopback moves 1–2 GiB/s; tinyproxy less). */
const TRANSFER_SECONDS_PER_GIB = 2;

export const forward: Scenario = {
  id: "forward",
  title: "2. Forward proxy and CONNECT",
  estimateSeconds: (mode) => wrkSeconds(mode, 3, mode.forwardShapes.length) + 4 * (mode.rounds + (mode.warmup ? 1 : 0)) * Math.max(0.2, (mode.bigBytes / 2 ** 30) * TRANSFER_SECONDS_PER_GIB),
  async run(ctx) {
    const started = await startAll(ctx, "forward", contenders(ctx));
    try {
      const shapes = ctx.mode.forwardShapes;
      const fwd = await runRounds(ctx, "forward", started, shapes.map((s) => wrkLoad(ctx, s)), ctx.mode.rounds);
      const tables = shapes.map((s, i) => seriesTable(`forward/${s.id}`, wrkTitle(ctx, s, "http_proxy clients (absolute form): "), "req/s", fwd[i]!, { "× squid": SQUID_FORWARD }));
      const size = ctx.mode.bigBytes;
      const tunnelers: Started[] = [{ name: "direct", target: direct(ctx.upstream) }, ...started];
      const tunnel = ctx.tools.curl
        ? await runRounds(ctx, "forward", tunnelers, [transferLoad(ctx, `CONNECT ${sizeLabel(size)}`, (t) => ({ url: t.url + BIG_PATH, proxy: t.proxy, direction: "down", size }))], ctx.mode.rounds)
        : undefined;
      if (tunnel) tables.push(seriesTable("forward/connect", `CONNECT tunnel: \`curl -p -x PROXY ${BIG_PATH}\` (${sizeLabel(size)}) per round${ctx.mode.warmup ? ", after an unrecorded one" : ""}; direct: the same curl without a proxy`, "MiB/s", tunnel[0]!, { "× direct": "direct" }));
      return {
        id: "forward",
        title: this.title,
        measures: `req/s and latency of absolute-form \`GET ${ctx.upstream.url}/1k\` sent to each forward proxy (× squid: against squid as a forward proxy); MiB/s of one ${sizeLabel(size)} download per round through each one's CONNECT tunnel, as curl measured it (× direct: against curl straight to the upstream).`,
        tables,
        targets: targetsOf(started),
        notes: ctx.tools.curl ? [] : ["curl is not installed: no CONNECT downloads."],
      };
    } finally {
      await stopStarted(started);
    }
  },
};
