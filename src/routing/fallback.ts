/**
 * @module
 * The built-in tables, consulted only when no configured route matches:
 *
 * - `egress_suffix` (on `-address` and the forward port, unless `-egress-suffix` is empty):
 *   `Host` ending in the suffix goes to `<dynamic>`, which sends `HOST.egress.local` to
 *   `https://HOST` (../proxy/pipeline.ts), verified against HOST.
 * - `forward_fallback` (the forward port only): the request goes where the client asked.
 *
 * Both destinations are client-chosen, so the egress policy checks them on the way
 * (../egress/dial.ts). Configured routes come first, so a route such as
 * `gh: Host("^api[.]github[.]com$") -> bearerinjector("/run/secrets/gh") -> <dynamic>` takes the
 * traffic for that one host. `/routes` prints the built-in table after the configured one, marked.
 */
import type { RouteDef } from "../eskip/ast.ts";
import { parse } from "../eskip/parser.ts";
import { buildTable, type Registries } from "./build.ts";
import { RoutingTable } from "./table.ts";

/** What `/routes` prints above the built-in table. */
export const FALLBACK_BANNER = "// built-in routes, used only when no route above matches (forward_fallback: on the forward port only)";

/** A Host regexp for `suffix` (`.egress.local`), with an optional port. */
const suffixPattern = (suffix: string) => `[.]${suffix.slice(1).replaceAll(".", "[.]")}(:[0-9]+)?$`;

export interface FallbackOptions {
  readonly egressSuffix: string;
  readonly forward: boolean;
}

/** The built-in route definitions of a port: the egress suffix's when set, and the forward port's catch-all. */
export function fallbackRoutes(options: FallbackOptions): RouteDef[] {
  const routes: string[] = [];
  if (options.egressSuffix) routes.push(`egress_suffix: Host(${JSON.stringify(suffixPattern(options.egressSuffix))}) -> <dynamic>;`);
  if (options.forward) routes.push("forward_fallback: * -> <dynamic>;");
  return parse(routes.join("\n"));
}

/** The built-in routes of a port as a table. */
export function buildFallbackTable(registries: Registries, options: FallbackOptions): RoutingTable {
  return buildTable(fallbackRoutes(options), registries);
}

/**
 * The table the forward engine routes by: the live configured table, then `fallback`. One chained
 * table per configured table, made when a reload swaps it, so a request reads one whole pair.
 */
export function withFallback(configured: () => RoutingTable, fallback: RoutingTable): () => RoutingTable {
  let primary: RoutingTable | undefined;
  let chained: RoutingTable | undefined;
  return () => {
    const current = configured();
    if (current !== primary || !chained) {
      primary = current;
      const matcher = { match: (req: Parameters<RoutingTable["match"]>[0]) => current.match(req) ?? fallback.match(req) };
      chained = new RoutingTable([...current.routes, ...fallback.routes], current.problems, matcher, current.duplicates);
    }
    return chained;
  };
}
