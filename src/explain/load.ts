/**
 * @module
 * The world of a command line (./world.ts), read as serving would read it: routes from
 * `-routes-file` and `-inline-routes` with where each was written, the egress lists and roles,
 * our DNS cache. Read once: nothing polls, nothing listens.
 */
import type { RouteDef } from "../eskip/ast.ts";
import { parse } from "../eskip/parser.ts";
import { createResolver, type NameResolver } from "../egress/dns.ts";
import { EgressLists } from "../egress/lists.ts";
import { createDestinationMatcher } from "../egress/policy.ts";
import { egressListsOptions, resolverOptions, type Config } from "../config/index.ts";
import { createLogger } from "../log/index.ts";
import { systemClock } from "../util/clock.ts";
import { readTextFile } from "../util/read-file.ts";
import { describeBreaker } from "./explain.ts";
import { explainRegistries, type ExplainWorld, type LimitAsked } from "./world.ts";

export async function loadWorld(config: Config): Promise<ExplainWorld> {
  const where = new Map<RouteDef, string>();
  const defs: RouteDef[] = [];
  const sources: [string, () => Promise<string>][] = config.routesFile.map((file) => [file, () => readTextFile(file)]);
  if (config.inlineRoutes) sources.push(["-inline-routes", async () => config.inlineRoutes]);
  for (const [name, read] of sources) {
    for (const def of parse(await read())) {
      where.set(def, `${name}:${def.loc?.line ?? 1}`);
      defs.push(def);
    }
  }
  const quiet = createLogger("error", { write() {} });
  const lists = await EgressLists.open(egressListsOptions(config, { log: quiet, clock: systemClock }));
  const resolver = createResolver(resolverOptions(config, systemClock));
  return worldOf(config, defs, (def) => where.get(def), lists, resolver);
}

/** The world of a running proxy (`/debug/explain`) or of a command line: its routes, lists and DNS cache. */
export function worldOf(
  config: Config,
  defs: readonly RouteDef[],
  where: (def: RouteDef) => string | undefined,
  lists: Pick<EgressLists, "policyFor">,
  resolver: NameResolver,
  live: Pick<ExplainWorld, "breakerState" | "liveLimiter"> = {},
): ExplainWorld {
  const limit = config.ratelimits[0];
  const limitsAsked: LimitAsked[] = [];
  return {
    ...live,
    limitsAsked,
    defs,
    where,
    registries: explainRegistries(config.enableSwarm, limitsAsked),
    egressSuffix: config.egressSuffix,
    connectPorts: new Set(config.connectPorts),
    intercepts: createDestinationMatcher(config.interceptHosts),
    sniUpstreamPort: config.sniUpstreamPort,
    policyFor: (client) => lists.policyFor(client),
    resolve: async (name) => (await resolver.resolve(name)).addresses,
    breakerFlags: config.breaker.map((entry) => `${entry.host ? `${entry.host}: ` : ""}${describeBreaker(entry)}`),
    globalRatelimit: limit && limit.type !== "disabled" ? `type=${limit.type},max-hits=${limit.maxHits},time-window=${limit.timeWindow}ms${limit.group ? `,group=${limit.group}` : ""}` : undefined,
  };
}
