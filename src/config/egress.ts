/**
 * @module
 * What the egress lists are opened from: the flag rules and the files beside them. One place, so
 * the start and `sallyport check` read a command line's lists the same way.
 */
import type { ResolverOptions } from "../egress/dns.ts";
import type { EgressListsOptions } from "../egress/lists.ts";
import type { Config } from "./schema.ts";

export function egressListsOptions(config: Config, rest: Pick<EgressListsOptions, "log" | "clock">): EgressListsOptions {
  return {
    allow: config.egressAllow,
    deny: config.egressDeny,
    allowFile: config.egressAllowFile || undefined,
    denyFile: config.egressDenyFile || undefined,
    rolesFile: config.egressRolesFile || undefined,
    allowPrivate: config.egressAllowPrivate,
    mode: config.egressMode,
    pollMs: config.sourcePollTimeout,
    ...rest,
  };
}

/** Our DNS cache for client-chosen names, as the -dns-* flags set it. */
export function resolverOptions(config: Config, clock: ResolverOptions["clock"]): ResolverOptions {
  return { servers: config.dnsServers, family: config.dnsLookupFamily, minTtl: config.dnsMinTtl, maxTtl: config.dnsMaxTtl, timeout: config.dnsTimeout, clock };
}
