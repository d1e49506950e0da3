/**
 * @module
 * The two kinds of load the scenarios put on a contender: a wrk run in one of the mode's shapes
 * (its body checked byte for byte through the contender afterwards), and one big curl transfer.
 */
import { type Transfer, type TransferResult, runTransfer } from "../curl.ts";
import { type Shape, shapeLabel } from "../modes.ts";
import type { Load } from "../rounds.ts";
import { closesUnannounced, MEDIUM_PATH, probe, SMALL_PATH, smallOk, type Target } from "../servers.ts";
import { runWrk, withUnannouncedCloses, type WrkResult, wrkCommand } from "../wrk.ts";
import type { Ctx } from "./types.ts";

export const thousands = (n: number): string => Math.round(n).toLocaleString("en-US");

/** "50c 1 KiB", "50c 1 KiB close", for progress lines. */
export function shortShape(s: Shape): string {
  return `${s.connections}c ${s.body === "1k" ? "1 KiB" : "64 KiB"}${s.close ? " Connection: close" : ""}`;
}

function wrkErrors(r: WrkResult): string {
  const n = Object.values(r.socketErrors).reduce((a, b) => a + b, 0) + r.errorStatus;
  return n ? `, ${n} errors` : "";
}

/**
 * wrk in `shape` against a target (through its forward proxy, if it has one). Read errors are
 * looked into once per target: if it closes connections after whole responses without saying
 * so, wrk miscounts those closes as errors (see WrkResult.unannouncedCloses).
 */
export function wrkLoad(ctx: Ctx, shape: Shape): Load<WrkResult> {
  const wrk = ctx.tools.wrk!;
  const path = shape.body === "1k" ? SMALL_PATH : MEDIUM_PATH;
  const run = (t: Target, seconds: number) =>
    runWrk(wrk, { url: t.url + path, host: t.host, proxy: t.proxy, close: shape.close, threads: ctx.mode.threads, connections: shape.connections, seconds });
  const medium = ctx.upstream.medium;
  const unannounced = new Map<Target, Promise<boolean>>();
  const closes = (t: Target) => unannounced.get(t) ?? unannounced.set(t, closesUnannounced(t, path, shape.close)).get(t)!;
  return {
    label: shortShape(shape),
    async run(t) {
      const r = await run(t, ctx.mode.seconds);
      return r.socketErrors.read > 0 && (await closes(t)) ? withUnannouncedCloses(r) : r;
    },
    warm: ctx.mode.warmup > 0 ? (t) => run(t, ctx.mode.warmup) : undefined,
    async check(t) {
      if (shape.body === "1k") return (await smallOk(t).catch(() => false)) ? [] : [`GET ${SMALL_PATH} after the run: wrong status or body`];
      const r = await probe(t, MEDIUM_PATH).catch(() => undefined);
      return r?.status === 200 && Buffer.from(r.body).equals(medium) ? [] : [`GET ${MEDIUM_PATH} after the run: wrong status or body`];
    },
    seconds: () => ctx.mode.seconds,
    describe: (r) => `${thousands(r.rps)} req/s, p99 ${r.p99Ms.toFixed(2)} ms${wrkErrors(r)}`,
  };
}

/** The table title of a wrk shape: what it is and the command's shape. */
export function wrkTitle(ctx: Ctx, shape: Shape, prefix = ""): string {
  const cmd = wrkCommand("wrk", { url: "URL", threads: ctx.mode.threads, connections: shape.connections, seconds: ctx.mode.seconds, close: shape.close }).filter((a) => a !== "-s" && !a.endsWith(".lua") && a !== "URL");
  return `${prefix}${shapeLabel(shape)} — \`${cmd.map((a) => (a.includes(" ") ? `'${a}'` : a)).join(" ")}\``;
}

/** One curl transfer per round; `spec` says what for a target. */
export function transferLoad(ctx: Ctx, label: string, spec: (t: Target) => Transfer): Load<TransferResult> {
  const curl = ctx.tools.curl!;
  return {
    label,
    run: (t) => runTransfer(curl, spec(t)),
    // unrecorded, like wrk's warm-up: the first download also reads the file into the page cache
    warm: ctx.mode.warmup > 0 ? (t) => runTransfer(curl, spec(t)) : undefined,
    check: async () => [],
    seconds: (r) => r.seconds,
    describe: (r) => (r.bytesPerSec !== undefined ? `${thousands(r.bytesPerSec / 2 ** 20)} MiB/s` : `failed: ${r.failure}`),
  };
}
