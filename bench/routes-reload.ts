/**
 * What a routes reload costs with 100,000 routes: parse time, build time, the longest event-loop
 * stall during the asynchronous build (what a request arriving mid-reload waits at most), and
 * peak RSS. The routes are a realistic mix: Host + Path predicates (some with Method), two
 * filters each, network backends.
 *
 *   bun run bench/routes-reload.ts [ROUTES] [YIELD_EVERY]
 */
import { parse, parseSteps } from "../src/eskip/index.ts";
import { buildTable, buildTableAsync, DEFAULT_YIELD_EVERY } from "../src/routing/build.ts";
import { runStepsAsync } from "../src/util/steps.ts";
import { builtinRegistries } from "../src/routing/registries.ts";

const ROUTES = Number(process.argv[2] ?? 100_000);
/** routes built between two yields; undefined = buildTableAsync's default, as RouteSource uses it */
const YIELD_EVERY = process.argv[3] === undefined ? undefined : Number(process.argv[3]);

function routesText(n: number): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const host = `Host("^svc${i % 5_000}\\.example\\.com$")`;
    const path = i % 4 === 0 ? `PathSubtree("/static/r${i}")` : `Path("/api/v${i % 3}/r${i}/:id")`;
    const method = i % 5 === 0 ? ` && Method("GET")` : "";
    lines.push(
      `r${i}: ${host} && ${path}${method}\n` +
        `  -> setRequestHeader("X-Route", "r${i}") -> modPath("^/api/v[0-9]+", "/v1")\n` +
        `  -> "https://backend${i % 200}.internal:8443";`,
    );
  }
  return lines.join("\n");
}

/** Samples the event loop every millisecond: the gaps between ticks, and the highest RSS. */
function startProbe() {
  let last = performance.now();
  const gaps: number[] = [];
  let peakRss = process.memoryUsage.rss();
  const timer = setInterval(() => {
    const now = performance.now();
    gaps.push(now - last);
    last = now;
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 1);
  return {
    stop() {
      clearInterval(timer);
      return { gaps: gaps.sort((a, b) => b - a), peakRss: Math.max(peakRss, process.memoryUsage.rss()) };
    },
  };
}

async function timed<T>(work: () => T | Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await work();
  return { value, ms: performance.now() - start };
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const ms = (n: number) => `${n.toFixed(0)} ms`;

const registries = builtinRegistries();
const text = routesText(ROUTES);
const rssBefore = process.memoryUsage.rss();
console.log(`${ROUTES} routes, ${(text.length / 2 ** 20).toFixed(1)} MiB of eskip; RSS before: ${mib(rssBefore)}`);

const parsed = await timed(() => parse(text));
console.log(`parse (one synchronous call):       ${ms(parsed.ms)}`);

// The first build warms the JIT; its table is the "previous" one of the reload measured next.
const first = await timed(() => buildTable(parsed.value, registries));
if (first.value.problems.length > 0) throw new Error(`unexpected problems: ${first.value.problems[0]!.message}`);
console.log(`build, sync (one stall):             ${ms(first.ms)}`);

// A reload parses the changed file in steps too (RouteSource): measure its stalls on their own.
const parseProbe = startProbe();
const reparsed = await runStepsAsync(parseSteps(text), YIELD_EVERY ?? DEFAULT_YIELD_EVERY);
const parseStalls = parseProbe.stop().gaps;
console.log(`parse, in steps (a reload):          longest stalls ${parseStalls.slice(0, 3).map(ms).join(", ")} (${parseStalls.length} ticks)`);
const probe = startProbe();
const reload = await timed(() =>
  buildTableAsync(reparsed, registries, { previous: new Map(first.value.routes.map((r) => [r.id, r.def])), yieldEvery: YIELD_EVERY }),
);
const { gaps, peakRss } = probe.stop();
if (reload.value.routes.length !== ROUTES) throw new Error(`built ${reload.value.routes.length} routes`);
console.log(`build, async (a reload):             ${ms(reload.ms)}`);
// The chunks between yields (yieldEvery routes built or placed in the matcher) and GC pauses.
console.log(`longest event-loop stalls during it: ${gaps.slice(0, 3).map(ms).join(", ")} (${gaps.length} ticks)`);
console.log(`peak RSS (both tables alive):        ${mib(peakRss)}`);
