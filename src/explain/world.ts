/**
 * @module
 * What an explanation is made against: the routes with where each was written, registries that
 * build them without touching anything real, and the egress side. Secrets are shown as
 * `<secret NAME>` (a value never appears), rate limits take no slot, and nothing is dialed.
 */
import type { RouteDef } from "../eskip/ast.ts";
import type { EgressClient, ClientPolicy } from "../egress/roles.ts";
import { builtinFilterRegistry } from "../filters/builtin.ts";
import { builtinPredicateRegistry } from "../predicates/builtin.ts";
import { LimiterRegistry } from "../ratelimit/registry.ts";
import type { Limiter } from "../ratelimit/limiter.ts";
import type { Registries } from "../routing/build.ts";
import type { SecretsReader } from "../secrets/index.ts";
import { systemClock } from "../util/clock.ts";

export interface ExplainWorld {
  /** the configured routes, in definition order */
  readonly defs: readonly RouteDef[];
  /** where a definition was written: `routes.eskip:3` */
  readonly where: (def: RouteDef) => string | undefined;
  /** built with {@link explainRegistries} */
  readonly registries: Registries;
  /** -egress-suffix ("" off) */
  readonly egressSuffix: string;
  /** -intercept-hosts: CONNECT destinations whose TLS is terminated, so routes see the requests inside */
  readonly intercepts: (host: string, port: number) => boolean;
  /** -connect-ports */
  readonly connectPorts: ReadonlySet<number>;
  /** -sni-upstream-port */
  readonly sniUpstreamPort: number;
  /** the egress lists and roles */
  readonly policyFor: (client: EgressClient) => ClientPolicy;
  /** resolves a name as serving would (our DNS cache); rejects with the ProxyError serving answers */
  readonly resolve: (name: string) => Promise<readonly string[]>;
  /** -breaker entries and -ratelimits' first entry, described: shown, not evaluated */
  readonly breakerFlags: readonly string[];
  /** a running proxy's breaker state for `host:port`, undefined when it has none yet; absent offline */
  readonly breakerState?: ((destination: string) => string | undefined) | undefined;
  /** what the route's rate limits were asked while its filters ran (filled by the registries' limiters) */
  readonly limitsAsked: LimitAsked[];
  /** a running proxy's live limiter of that name (`kind max window`); absent offline */
  readonly liveLimiter?: ((name: string) => Limiter | undefined) | undefined;
  readonly globalRatelimit: string | undefined;
}

/** Secrets as placeholders: a header set from one reads `Bearer <secret /run/secrets/gh>`. */
const PLACEHOLDER_SECRETS: SecretsReader = {
  lookup: (name) => ({ ok: true, value: `<secret ${name}>` }),
  refused: () => {},
};

/** A rate limit a route's filter asked about: which limiter, and for which key (never printed: it may be a token). */
export interface LimitAsked {
  readonly name: string;
  readonly key: string;
  readonly max: number;
}

/**
 * Registries for explaining: placeholder secrets, and limits (cluster ones too) that never refuse
 * and take nothing — explaining a request must not spend a slot — but note what they were asked
 * in `asked`, so the live count can be looked up.
 */
export function explainRegistries(clustered: boolean, asked: LimitAsked[]): Registries {
  const noting = (name: string, max: number, window: number): Limiter => ({
    max,
    window,
    take: (key) => (asked.push({ name, key, max }), 0),
    giveBack: () => {},
    peek: () => 0,
  });
  const ratelimits = new LimiterRegistry(systemClock, noting, clustered ? (_scope, _max, _window, fallback) => fallback : undefined);
  return { filters: builtinFilterRegistry({ secrets: PLACEHOLDER_SECRETS, ratelimits }), predicates: builtinPredicateRegistry() };
}
