/**
 * @module
 * Load-balanced backends, `<algorithm, "http://a", "http://b">`. Algorithms as in Skipper's
 * loadbalancer package; the default (no name) is round robin.
 */
import { parseOrigin, type Origin } from "./origin.ts";

export interface Endpoint {
  readonly origin: Origin;
  /** requests in flight, kept by the proxy for powerOfRandomNChoices */
  inflight: number;
}

export interface Balancer {
  readonly endpoints: readonly Endpoint[];
  /** `clientKey` is the client address, for consistentHash */
  pick(clientKey: string): Endpoint;
}

type Algorithm = (endpoints: readonly Endpoint[]) => (clientKey: string) => Endpoint;

const randomIndex = (n: number) => Math.floor(Math.random() * n);

// A Map, not an object literal: an algorithm name comes from the routes file, and a plain object
// would answer `toString`, `constructor` or `__proto__` with an inherited non-algorithm.
const ALGORITHMS = new Map<string, Algorithm>(Object.entries({
  roundRobin(endpoints: readonly Endpoint[]) {
    // Start at a random index so many proxies do not hit the first endpoint in lockstep.
    let next = randomIndex(endpoints.length);
    return () => endpoints[next++ % endpoints.length]!;
  },
  random: (endpoints: readonly Endpoint[]) => () => endpoints[randomIndex(endpoints.length)]!,
  consistentHash(endpoints: readonly Endpoint[]) {
    // A hash ring with 100 virtual nodes per endpoint keeps most keys in place when endpoints change.
    const ring = endpoints
      .flatMap((endpoint, i) => Array.from({ length: 100 }, (_, v) => ({ hash: fnv1a(`${i}-${v}-${endpoint.origin.host}`), endpoint })))
      .sort((a, b) => a.hash - b.hash);
    return (key) => {
      const h = fnv1a(key);
      let lo = 0;
      let hi = ring.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (ring[mid]!.hash < h) lo = mid + 1;
        else hi = mid;
      }
      return ring[lo % ring.length]!.endpoint;
    };
  },
  powerOfRandomNChoices(endpoints: readonly Endpoint[]) {
    // Two random picks, the less busy one wins: near-best balance without global scans.
    return () => {
      const a = endpoints[randomIndex(endpoints.length)]!;
      const b = endpoints[randomIndex(endpoints.length)]!;
      return b.inflight < a.inflight ? b : a;
    };
  },
} satisfies Record<string, Algorithm>));

export function createBalancer(algorithm: string | undefined, addresses: readonly string[]): Balancer {
  const make = ALGORITHMS.get(algorithm ?? "roundRobin");
  if (!make) throw new Error(`unsupported algorithm ${JSON.stringify(algorithm)} (supported: ${[...ALGORITHMS.keys()].join(", ")})`);
  const endpoints = addresses.map((a) => ({ origin: parseOrigin(a), inflight: 0 }));
  return { endpoints, pick: make(endpoints) };
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
