/**
 * Lookup cost of the route matcher for 10 vs 10,000 routes, in ns per lookup.
 * The index (host, then path tree) should keep the two close.
 *
 *   bun run bench/matcher.ts [--quick]
 *
 * --quick: a tenth of the lookups (bench/run.ts's quick and smoke modes), noisier numbers.
 */
import { builtinPredicateRegistry } from "../src/predicates/builtin.ts";
import type { MatchRequest } from "../src/predicates/types.ts";
import type { Matcher, MatcherEntry } from "../src/routing/matcher.ts";
import { createMatcher } from "../src/routing/matcher.ts";

const registry = builtinPredicateRegistry();
const create = (name: string, ...args: string[]) => registry.get(name)!.create(args);

const request = (host: string, path: string): MatchRequest => ({
  method: "GET",
  host,
  path,
  headers: new Headers(),
  query: new URLSearchParams(),
  peer: "127.0.0.1",
});

interface Scenario {
  name: string;
  route(n: number): MatcherEntry<number>;
  request(n: number): MatchRequest;
}

const scenarios: Scenario[] = [
  {
    name: 'Host("^hN\\.example\\.com$") && Path("/x")',
    route: (n) => ({ value: n, predicates: [create("Host", `^h${n}\\.example\\.com$`), create("Path", "/x")] }),
    request: (n) => request(`h${n}.example.com`, "/x"),
  },
  {
    name: 'Path("/svc/N/items/:id") && Method("GET")',
    route: (n) => ({ value: n, predicates: [create("Path", `/svc/${n}/items/:id`), create("Method", "GET")] }),
    request: (n) => request("example.com", `/svc/${n}/items/42`),
  },
];

function nsPerLookup(matcher: Matcher<number>, requests: MatchRequest[], rounds: number): number {
  let misses = 0;
  const lookups = () => {
    for (const req of requests) if (matcher.match(req) === undefined) misses++;
  };
  for (let i = 0; i < 3; i++) lookups(); // warm up the JIT
  const start = Bun.nanoseconds();
  for (let r = 0; r < rounds; r++) lookups();
  const elapsed = Bun.nanoseconds() - start;
  if (misses > 0) throw new Error(`${misses} lookups found nothing`);
  return elapsed / (rounds * requests.length);
}

const LOOKUPS = process.argv.includes("--quick") ? 200_000 : 2_000_000;
// Lookups aimed at `targets` distinct routes spread over the table. With 10 targets both sizes
// touch the same amount of memory, so the difference is the algorithm's; with 1,000 targets the
// big table also pays for cache misses, which any index would.
const runs = [
  { routes: 10, targets: 10 },
  { routes: 10_000, targets: 10 },
  { routes: 10_000, targets: 1_000 },
];
for (const scenario of scenarios) {
  console.log(scenario.name);
  for (const { routes, targets } of runs) {
    const entries = Array.from({ length: routes }, (_, n) => scenario.route(n));
    const { matcher } = createMatcher(entries);
    const stride = Math.floor(routes / targets);
    const requests = Array.from({ length: 1000 }, (_, i) => scenario.request((i % targets) * stride));
    const ns = nsPerLookup(matcher, requests, LOOKUPS / requests.length);
    console.log(`  ${String(routes).padStart(6)} routes, ${String(targets).padStart(5)} targets: ${ns.toFixed(0)} ns/lookup`);
  }
}
