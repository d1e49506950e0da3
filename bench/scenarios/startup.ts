/**
 * @module
 * Scenario 6, start-up: the time from exec of the binary to the first proxied 200 through it
 * (the routed route to the nginx upstream, probed every millisecond or so with a fresh
 * connection), the median of the mode's runs, round-robin with two references: `sallyport
 * -version` (exec to exit: what the runtime costs before any of sallyport's work) and the Bun
 * floor script (bun transpiles it first, so it is no floor here, only a yardstick). sallyport
 * runs as a deployment starts it.
 */
import { join } from "node:path";
import { freePort, spawnServer, stop, trackTransient } from "../procs.ts";
import { median, type PlainTable } from "../results.ts";
import { otherFreePort, routedRoute } from "../sallyports.ts";
import { dirFor, ROUTED_HOST, smallOk } from "../servers.ts";
import { FLOOR } from "./routed.ts";
import { type Ctx, type Scenario } from "./types.ts";

/** a start that has not answered by then has failed */
const START_LIMIT_MS = 10_000;

interface Starter {
  readonly name: string;
  readonly setup: string;
  /** one start, in ms, or why it failed */
  once(run: number): Promise<{ ms?: number; failure?: string }>;
}

/** Spawns `cmd` (its own process group, log in `dir`) and polls until the 1 KiB body comes back through it. */
async function toFirstResponse(name: string, cmd: string[], dir: string, url: string, env?: Record<string, string>): Promise<{ ms?: number; failure?: string }> {
  const t0 = performance.now();
  const child = spawnServer(name, cmd, join(dir, "server.log"), env);
  try {
    while (performance.now() - t0 < START_LIMIT_MS) {
      if (child.proc.exitCode !== null || child.proc.signalCode !== null) return { failure: `exited (${child.proc.exitCode ?? child.proc.signalCode}) before answering` };
      if (await smallOk({ url, host: ROUTED_HOST }).catch(() => false)) return { ms: performance.now() - t0 };
      await Bun.sleep(1);
    }
    return { failure: `no 200 within ${START_LIMIT_MS / 1000} s` };
  } finally {
    await stop(child);
  }
}

function starters(ctx: Ctx): Starter[] {
  const dir = dirFor(ctx.dir, "startup");
  const route = routedRoute(ctx.upstream.port);
  return [
    {
      name: "sallyport",
      setup: `\`sallyport -address 127.0.0.1:PORT -support-listener 127.0.0.1:PORT2 -inline-routes '${route}'\` (access log on and one worker per core, as by default)`,
      once() {
        const port = freePort();
        const support = otherFreePort([port]);
        const cmd = [ctx.bin, "-address", `127.0.0.1:${port}`, "-support-listener", `127.0.0.1:${support}`, "-inline-routes", route];
        return toFirstResponse("sallyport (start-up)", cmd, dir, `http://127.0.0.1:${port}`);
      },
    },
    {
      name: "sallyport -version",
      setup: "`sallyport -version`: exec to exit, no listeners",
      async once() {
        const t0 = performance.now();
        const p = Bun.spawn([ctx.bin, "-version"], { stdout: "ignore", stderr: "ignore", timeout: START_LIMIT_MS, killSignal: "SIGKILL" });
        trackTransient(p);
        const code = await p.exited;
        return code === 0 ? { ms: performance.now() - t0 } : { failure: `exit ${code}` };
      },
    },
    {
      name: FLOOR,
      setup: "`bun bench/bun-baseline.ts PORT UPSTREAM`: bun transpiles the script before serving",
      once() {
        const port = freePort();
        const cmd = [process.execPath, join(import.meta.dir, "../bun-baseline.ts"), String(port), ctx.upstream.url];
        return toFirstResponse("bun baseline (start-up)", cmd, dir, `http://127.0.0.1:${port}`, { BUN_CONFIG_MAX_HTTP_REQUESTS: "16384" });
      },
    },
  ];
}

export const startup: Scenario = {
  id: "startup",
  title: "6. Start-up",
  estimateSeconds: (mode) => (mode.startupRuns + 1) * 3 * 0.4 + 1,
  async run(ctx) {
    const list = starters(ctx);
    const runs = ctx.mode.startupRuns;
    const results = new Map<string, { ms?: number; failure?: string }[]>(list.map((s) => [s.name, []]));
    // Unrecorded: the first exec of a freshly built 100 MB binary also reads it into the page cache.
    for (const s of list) await s.once(0);
    for (let run = 1; run <= runs; run++) {
      for (let i = 0; i < list.length; i++) {
        const s = list[(i + run - 1) % list.length]!;
        const r = await s.once(run);
        results.get(s.name)!.push(r);
      }
    }
    const data = list.map((s) => {
      const all = results.get(s.name)!;
      const ms = all.map((r) => r.ms).filter((x): x is number => x !== undefined);
      return { name: s.name, medianMs: ms.length ? median(ms) : undefined, minMs: ms.length ? Math.min(...ms) : undefined, maxMs: ms.length ? Math.max(...ms) : undefined, ms, failures: all.flatMap((r) => (r.failure ? [r.failure] : [])) };
    });
    for (const d of data) ctx.progress(`[startup] ${d.name}: median ${d.medianMs?.toFixed(1) ?? "–"} ms of ${d.ms.length} runs${d.failures.length ? ` ⚠ ${d.failures[0]}` : ""}`);
    const f = (x: number | undefined) => (x === undefined ? "–" : x.toFixed(1));
    const table: PlainTable = {
      kind: "plain",
      id: "startup/first-response",
      title: `Exec to the first proxied 200, ${runs} runs each, round-robin, after an unrecorded one`,
      intro: "ms from just before the spawn to the first complete 1 KiB body through the new process (a fresh connection per poll, ~1 ms apart; the poll's own cost is included).",
      head: ["contender", "median ms", "min ms", "max ms", "each run ms", "failures"],
      cells: data.map((d) => [d.name, f(d.medianMs), f(d.minMs), f(d.maxMs), d.ms.map((x) => x.toFixed(1)).join(", "), d.failures.length ? `**${d.failures.length}: ${d.failures[0]}**` : "0"]),
      data,
      errors: data.reduce((n, d) => n + d.failures.length, 0),
    };
    return {
      id: "startup",
      title: this.title,
      measures: "the time from exec of the binary to its first proxied 200 response (a route to the nginx upstream), median of the runs.",
      tables: [table],
      targets: list.map((s) => ({ name: s.name, setup: s.setup })),
      notes: [],
    };
  },
};
