/**
 * @module
 * Scenario 3b, what a cluster rate limit costs per request: the routed path of scenario 1 with a
 * rate limit that never trips, counted in the process (`ratelimit`) against one counted in a real
 * redis-server on loopback (`clusterRatelimit` with -enable-swarm: one script call to Redis per
 * request), alternating in scenario 3's shape and rounds. Overhead = 1 − cluster ÷ local. After
 * the rounds the cluster contender's /metrics says how many Redis calls were made and whether any
 * request was decided without Redis (which would make the measurement invalid).
 */
import { stop, treeCpuSeconds } from "../procs.ts";
import { runRounds, startAll, stopStarted } from "../rounds.ts";
import { seriesTable } from "../results.ts";
import { clusterCounts, type RatelimitProxy, startSallyportRatelimit } from "../sallyports.ts";
import { startRedis } from "../servers.ts";
import { thousands, wrkLoad, wrkTitle } from "./loads.ts";
import { missing, type Scenario, targetsOf, wrkSeconds } from "./types.ts";

export const LOCAL_LIMIT = "sallyport, local ratelimit";
export const CLUSTER_LIMIT = "sallyport, clusterRatelimit (Redis)";

const f2 = (n: number) => n.toFixed(2);

export const cluster: Scenario = {
  id: "cluster",
  title: "3b. Cluster rate limit (Redis) vs local",
  // the two sallyports' rounds, and redis-server's start
  estimateSeconds: (mode) => wrkSeconds(mode, 2, 1, mode.featureRounds) + 1,
  async run(ctx) {
    const { dir, bin, upstream } = ctx;
    let redis: Awaited<ReturnType<typeof startRedis>> | undefined;
    const started = await startAll(ctx, "cluster", [
      { name: LOCAL_LIMIT, start: () => startSallyportRatelimit(dir, bin, upstream.port, LOCAL_LIMIT) },
      {
        name: CLUSTER_LIMIT,
        unavailable: missing(ctx, "redis-server"),
        start: async () => {
          redis = await startRedis(dir, ctx.tools["redis-server"]!);
          return startSallyportRatelimit(dir, bin, upstream.port, CLUSTER_LIMIT, redis);
        },
      },
    ]);
    try {
      const shape = ctx.mode.routedShapes[0]!;
      const rounds = ctx.mode.featureRounds;
      // redis-server is shared like the upstream: its logged errors count, its CPU is not "other"
      const shared = redis ? [...ctx.shared, redis] : ctx.shared;
      const redisPid = redis?.child?.pid;
      const redisCpu0 = redisPid ? treeCpuSeconds(redisPid) : 0;
      const [series] = await runRounds({ ...ctx, shared }, "cluster", started, [wrkLoad(ctx, shape)], rounds);
      const redisCpu = redisPid ? treeCpuSeconds(redisPid) - redisCpu0 : undefined;
      const table = seriesTable(`cluster/${shape.id}`, wrkTitle(ctx, shape), "req/s", series!, { "× local": LOCAL_LIMIT });

      const notes: string[] = [];
      const failures: string[] = [];
      const localRow = table.rows.find((r) => r.name === LOCAL_LIMIT);
      const clusterRow = table.rows.find((r) => r.name === CLUSTER_LIMIT);
      const l = localRow?.median;
      const c = clusterRow?.median;
      if (l?.rate && c?.rate) {
        const overhead = (1 - c.rate / l.rate) * 100;
        notes.push(
          `Overhead of the cluster rate limit: **${overhead.toFixed(1)} %** of req/s (1 − cluster ÷ local = 1 − ${thousands(c.rate)} ÷ ${thousands(l.rate)}, median rounds); p50 ${f2(l.p50Ms!)} → ${f2(c.p50Ms!)} ms, p99 ${f2(l.p99Ms!)} → ${f2(c.p99Ms!)} ms.`,
        );
      }
      const clusterTarget = started.find((s) => s.name === CLUSTER_LIMIT)?.target as RatelimitProxy | undefined;
      if (clusterTarget) {
        const counts = await clusterCounts(clusterTarget.supportUrl).catch((e: Error) => e);
        if (counts instanceof Error) {
          failures.push(`the cluster contender's /metrics after the rounds: ${counts.message}`);
        } else {
          const measured = clusterRow?.samples.reduce((n, s) => n + (s.requests ?? 0), 0) ?? 0;
          const meanUs = counts.calls ? (counts.callSeconds / counts.calls) * 1e6 : undefined;
          const cpu = redisCpu !== undefined && counts.calls ? `; redis-server used ${redisCpu.toFixed(2)} CPU-seconds over the scenario, ≈ ${((redisCpu / counts.calls) * 1e6).toFixed(1)} µs per call (not in the proxy CPU column, which is sallyport's alone)` : "";
          notes.push(
            `Redis calls: ${thousands(counts.calls)} answered over the scenario (\`sallyport_redis_call_duration_seconds_count\` read from the cluster contender's /metrics after the last round; wrk counted ${thousands(measured)} requests to it in the measured rounds, the rest are the readiness probe at its start, ${ctx.mode.warmup ? "the warm-up, " : ""}and the checks after each round), ${meanUs === undefined ? "–" : thousands(meanUs)} µs each on average as sallyport timed them (\`_sum ÷ _count\`: the loopback round trip and the script), ${thousands(counts.callErrors)} without an answer (\`sallyport_redis_errors_total\`)${cpu}.`,
          );
          if (counts.unavailable === 0) {
            notes.push("`sallyport_cluster_ratelimit_unavailable_total` stayed 0: Redis decided every request of the cluster contender.");
          } else {
            notes.push(
              `**This measurement is invalid:** \`sallyport_cluster_ratelimit_unavailable_total\` is ${thousands(counts.unavailable)}: that many requests were decided without Redis (by the fail-open local limit, after \`-swarm-redis-read-timeout\`), so the cluster row is partly the local limit's.`,
            );
          }
        }
      }
      return {
        id: "cluster",
        title: this.title,
        measures: `req/s and latency of the routed path (scenario 1's route and load, as in scenario 3) with a rate limit that never trips added to the route: \`ratelimit(1000000, "1s")\`, counted in the process, vs \`clusterRatelimit("bench", 1000000, "1s")\` with \`-enable-swarm -swarm-redis-urls\`, counted in a redis-server on loopback (one script call per request: trim the sliding window, count it, add the request). Both \`-workers 1\`, no access log, /metrics on a support listener (read after each measurement: the cluster one must have made Redis calls and decided nothing without Redis); ${rounds} round(s), alternating. The overhead is 1 − (× local) of the cluster row.`,
        tables: [table],
        targets: targetsOf(started, redis ? [{ name: "redis-server", target: redis }] : []),
        notes,
        failures,
      };
    } finally {
      await stopStarted(started);
      if (redis?.child) await stop(redis.child);
    }
  },
};
