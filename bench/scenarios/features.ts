/**
 * @module
 * Scenario 3, what the features cost on the routed path: the plain routed sallyport of scenario
 * 1 (no access log, no support listener) against one with the access log, /metrics, a secret
 * injected from a -credentials-paths file, a consecutiveBreaker and a clientRatelimit that never
 * trips, alternating, in the 50-connection 1 KiB shape. Overhead = 1 − on ÷ off.
 */
import { runRounds, startAll, stopStarted } from "../rounds.ts";
import { seriesTable } from "../results.ts";
import { startSallyportFeatures, startSallyportRouted } from "../sallyports.ts";
import { wrkLoad, wrkTitle } from "./loads.ts";
import { type Scenario, targetsOf, wrkSeconds } from "./types.ts";

export const FEATURES_OFF = "sallyport, features off";
export const FEATURES_ON = "sallyport, features on";

export const features: Scenario = {
  id: "features",
  title: "3. Features on vs off",
  estimateSeconds: (mode) => wrkSeconds(mode, 2, 1, mode.featureRounds),
  async run(ctx) {
    const { dir, bin, upstream } = ctx;
    const started = await startAll(ctx, "features", [
      { name: FEATURES_OFF, start: () => startSallyportRouted(dir, bin, upstream.port, { tag: "-off", name: FEATURES_OFF }) },
      { name: FEATURES_ON, start: () => startSallyportFeatures(dir, bin, upstream.port) },
    ]);
    try {
      const shape = ctx.mode.routedShapes[0]!;
      const [series] = await runRounds(ctx, "features", started, [wrkLoad(ctx, shape)], ctx.mode.featureRounds);
      return {
        id: "features",
        title: this.title,
        measures: `req/s and latency of the routed path (scenario 1's route and load) with none of the features and with all of them: the access log (stderr, combined format), /metrics on a support listener (read after each measurement to check it counted), \`bearerinjector\` from a \`-credentials-paths\` file, \`consecutiveBreaker(5)\` and \`clientRatelimit(1000000, "1s")\`; ${ctx.mode.featureRounds} round(s), alternating. The overhead is 1 − (× off) of the "on" row.`,
        tables: [seriesTable(`features/${shape.id}`, wrkTitle(ctx, shape), "req/s", series!, { "× off": FEATURES_OFF })],
        targets: targetsOf(started),
        notes: [],
      };
    } finally {
      await stopStarted(started);
    }
  },
};
