/**
 * @module
 * The forward port's built-in table: consulted only when no configured route matches, it sends
 * the request where the client asked (`<dynamic>`: the target's authority), which the egress
 * policy checks on the way (../egress/dial.ts). Configured routes come first, so a route such as
 * `gh: Host("^api[.]github[.]com$") -> bearerinjector("/run/secrets/gh") -> <dynamic>` takes the
 * traffic for that one host. `/routes` prints this table after the configured one, marked.
 */
import { parse } from "../eskip/parser.ts";
import { buildTable, type Registries } from "./build.ts";
import { RoutingTable } from "./table.ts";

/** What `/routes` prints above the fallback table. */
export const FALLBACK_BANNER = "// forward port (-forward-address) built-in fallback: used only when no route above matches";

const FALLBACK_ROUTES = "forward_fallback: * -> <dynamic>;";

export function buildFallbackTable(registries: Registries): RoutingTable {
  return buildTable(parse(FALLBACK_ROUTES), registries);
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
