/**
 * @module
 * Scenario 4, streaming the big file through the routed path, down (curl GET of the upstream's
 * sparse file) and up (curl -T of a sparse file of the same size to the upload sink, which counts
 * what arrived): the proxy must pass the body through, so its peak RSS should not grow with it.
 * sallyport has a second route for the upload, `Host("bench") && Path("/sink")` to the sink; the
 * Bun floor runs twice, once in front of each upstream.
 */
import { truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sizeLabel } from "../modes.ts";
import { type Started, runRounds, startAll, stopStarted } from "../rounds.ts";
import { seriesTable } from "../results.ts";
import { startSallyportRouted } from "../sallyports.ts";
import { AUTH_VALUE, BIG_PATH, direct, ROUTED_HOST, startBunBaseline, startSink } from "../servers.ts";
import { FLOOR } from "./routed.ts";
import { transferLoad } from "./loads.ts";
import { type Scenario, targetsOf } from "./types.ts";

export const streaming: Scenario = {
  id: "streaming",
  title: "4. Streaming up and down",
  // 3 contenders × 2 directions, plus the warm-ups; a start each
  estimateSeconds: (mode) => 6 * (mode.rounds + (mode.warmup ? 1 : 0)) * Math.max(0.2, (mode.bigBytes / 2 ** 30) * 1.5) + 5,
  async run(ctx) {
    const { dir, bin, upstream, mode } = ctx;
    const size = mode.bigBytes;
    const sink = await startSink(dir);
    ctx.shared.push(sink);
    const file = join(dir, "upload.bin");
    writeFileSync(file, "");
    truncateSync(file, size);
    const sinkRoute = `sink: Host("${ROUTED_HOST}") && Path("/sink") -> setRequestHeader("Authorization", "${AUTH_VALUE}") -> "${sink.url}"`;
    const down = await startAll(ctx, "streaming", [
      { name: "direct", start: async () => direct(upstream, ROUTED_HOST) },
      { name: "sallyport", start: () => startSallyportRouted(dir, bin, upstream.port, { tag: "-streaming", extraRoutes: sinkRoute }) },
      { name: FLOOR, start: () => startBunBaseline(dir, upstream.url) },
    ]);
    const upOnly = await startAll(ctx, "streaming", [
      { name: "direct", start: async () => ({ ...direct(sink), setup: "curl → the upload sink, no proxy" }) },
      { name: FLOOR, start: () => startBunBaseline(dir, sink.url, "-sink") },
    ]);
    const up: Started[] = [upOnly[0]!, down[1]!, upOnly[1]!];
    try {
      const label = sizeLabel(size);
      const [downSeries] = await runRounds(ctx, "streaming", down, [transferLoad(ctx, `GET ${label}`, (t) => ({ url: t.url + BIG_PATH, host: t.host, direction: "down", size }))], mode.rounds);
      const [upSeries] = await runRounds(ctx, "streaming", up, [transferLoad(ctx, `PUT ${label}`, (t) => ({ url: t.url + "/sink", host: t.host, direction: "up", file, size }))], mode.rounds);
      const warm = mode.warmup ? ", after an unrecorded one" : "";
      return {
        id: "streaming",
        title: this.title,
        measures: `peak RSS of each proxy's process tree while one ${label} body streams through it, downloaded from the nginx upstream (\`curl ${BIG_PATH}\`, discarded) or uploaded to the sink (\`curl -T\` of a sparse file; the sink answers with the bytes it read, which must be all of them); MiB/s as curl measured it. The upload sink is a Bun.serve (bench/sink.ts), not nginx: nginx's \`return\` answers before reading the body, so nothing would prove the whole upload went through, and reading it first means spooling it to disk.`,
        tables: [
          seriesTable("streaming/down", `Download: \`curl -H 'Host: ${ROUTED_HOST}' ${BIG_PATH}\` (${label}) per round${warm}`, "MiB/s", downSeries!, { "× direct": "direct" }),
          seriesTable("streaming/up", `Upload: \`curl -T FILE -H 'Host: ${ROUTED_HOST}' /sink\` (${label}, a sparse file) per round${warm}`, "MiB/s", upSeries!, { "× direct": "direct" }),
        ],
        targets: targetsOf(down, upOnly),
        notes: [],
      };
    } finally {
      await stopStarted([...down, ...upOnly, { name: "sink", target: sink }]);
      ctx.shared.splice(ctx.shared.indexOf(sink), 1);
    }
  },
};
