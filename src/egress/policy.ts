/**
 * @module
 * The egress decision for a destination a client chose: which of the addresses the resolver
 * returned may be dialed, and why. Rules (./rules.ts) and the private-address guard
 * (./ranges.ts) combine as issue 8 says:
 *
 * - Deny wins over allow. Name rules match the host as the client named it (lower case, no
 *   trailing dot); IP and CIDR rules match each address, and a deny rule also matches the IPv4 an
 *   IPv6 address carries (NAT64, 6to4, ...), since that is where such an address leads.
 * - With an allow list, a destination on neither a name rule nor an address rule is denied. An
 *   empty list is no list (every public destination passes), unless `enforceAllowList` says the
 *   list is in force even when empty: a role of ./roles.ts whose list is empty reaches nothing.
 * - The guard refuses every special-purpose address unless `allowPrivate` is set, or an IP or
 *   CIDR allow rule holds that very address: a name on the allow list does not open a private
 *   address, or allowing `api.example.com` would allow whatever its DNS says.
 * - Only addresses that pass are dialable; none → denied, with the first refusal as the reason.
 *
 * A numeric host (`0177.1`, `[::1]`) is read by ../net/numeric-host.ts and is its own only
 * address: `addresses` is not consulted, so what is checked is what is dialed. Nothing here does
 * I/O; a decision parses each address into one reused buffer.
 */
import { parseIp, IpSet, type IpWords } from "../net/ip.ts";
import { parseNumericHost, type NumericHost } from "../net/numeric-host.ts";
import { carriedIPv4, classifyWords, type SpecialRange } from "./ranges.ts";
import { canonicalName, type EgressRule } from "./rules.ts";

export type EgressReason = "deny-rule" | "not-in-allow-list" | "private-address" | "invalid-host" | "allow-rule" | "default";

export interface EgressDestination {
  /** the host as the client named it, without the port (IPv6 bracketed or not) */
  readonly host: string;
  readonly port: number;
  /** what the resolver returned for a name; ignored for a numeric host */
  readonly addresses: readonly string[];
}

export interface EgressDecision {
  readonly allowed: boolean;
  readonly reason: EgressReason;
  /** the entry that decided, as written */
  readonly rule?: string;
  /** the special range that refused the address */
  readonly range?: SpecialRange;
  /** the address the decision is about: the first dialable one, or the refused one */
  readonly address?: string;
  /** the addresses that passed, in the resolver's order; empty when denied */
  readonly dialable: readonly string[];
}

export interface EgressPolicyOptions {
  readonly allow?: readonly EgressRule[];
  readonly deny?: readonly EgressRule[];
  /** `-egress-allow-private`: open every special-purpose range */
  readonly allowPrivate?: boolean;
  /**
   * The allow list is in force even when it is empty (then nothing passes): a role's list, where
   * "no entries" means "may reach nothing", not "may reach everything".
   */
  readonly enforceAllowList?: boolean;
}

export interface EgressPolicy {
  /**
   * What the name alone decides, before any lookup: a refusal (deny rule, not on an allow list
   * that has no address rules, an enforced allow list with no rules at all, a host no parser
   * reads alike), or undefined when the addresses must
   * be looked at. A denied name is never sent to a resolver.
   */
  screen(host: string, port: number): EgressDecision | undefined;
  decide(destination: EgressDestination): EgressDecision;
}

const NOTHING: readonly string[] = Object.freeze([]);

const fitsPort = (rule: EgressRule, port: number) => rule.port === undefined || rule.port === port;

/** One list's rules, indexed for per-request lookups. */
class RuleIndex {
  readonly #hosts = new Map<string, EgressRule[]>();
  readonly #domains = new Map<string, EgressRule[]>();
  readonly #networks = new IpSet();
  readonly #networkRules: EgressRule[] = [];
  readonly size: number;

  constructor(rules: readonly EgressRule[]) {
    this.size = rules.length;
    for (const rule of rules) {
      if (rule.kind === "host") push(this.#hosts, rule.host, rule);
      else if (rule.kind === "subdomains") push(this.#domains, rule.domain, rule);
      else {
        this.#networks.add(rule.cidr);
        this.#networkRules.push(rule);
      }
    }
  }

  get hasNetworks(): boolean {
    return this.#networkRules.length > 0;
  }

  /** The first rule for `name` itself, else for a domain above it (never the apex of `*.domain`). */
  matchName(name: string, port: number): EgressRule | undefined {
    const exact = firstFitting(this.#hosts.get(name), port);
    if (exact !== undefined || this.#domains.size === 0) return exact;
    for (let dot = name.indexOf("."); dot >= 0; dot = name.indexOf(".", dot + 1)) {
      const rule = firstFitting(this.#domains.get(name.slice(dot + 1)), port);
      if (rule !== undefined) return rule;
    }
    return undefined;
  }

  /** The first network rule that holds the address and fits the port. */
  matchAddress(family: 4 | 6, words: IpWords, port: number): EgressRule | undefined {
    for (let n = this.#networks.indexOf(family, words); n >= 0; n = this.#networks.indexOf(family, words, n + 1)) {
      const rule = this.#networkRules[n]!;
      if (fitsPort(rule, port)) return rule;
    }
    return undefined;
  }
}

function push(map: Map<string, EgressRule[]>, key: string, rule: EgressRule): void {
  const list = map.get(key);
  if (list) list.push(rule);
  else map.set(key, [rule]);
}

const firstFitting = (rules: readonly EgressRule[] | undefined, port: number) => rules?.find((rule) => fitsPort(rule, port));

const refused = (reason: EgressReason, details: Omit<EgressDecision, "allowed" | "reason" | "dialable"> = {}): EgressDecision => ({
  allowed: false,
  reason,
  ...details,
  dialable: NOTHING,
});

const INVALID_HOST = Object.freeze(refused("invalid-host"));

export function createEgressPolicy(options: EgressPolicyOptions = {}): EgressPolicy {
  const allow = new RuleIndex(options.allow ?? []);
  const deny = new RuleIndex(options.deny ?? []);
  const allowPrivate = options.allowPrivate === true;
  const enforced = allow.size > 0 || options.enforceAllowList === true;
  const words = new Uint32Array(4);
  const carried = new Uint32Array(1);

  /** The allow rule that let the last address through refusal() pass, if one did. */
  let passedBy: EgressRule | undefined;

  /** Why one address may not be dialed, or undefined when it may (then see `passedBy`). */
  function refusal(address: string, port: number, allowedByName: EgressRule | undefined): EgressDecision | undefined {
    const family = parseIp(address, 0, address.length, words);
    if (family === 0) return refused("invalid-host", { address });
    const denyRule = deny.matchAddress(family, words, port) ?? denyCarried(family, port);
    if (denyRule) return refused("deny-rule", { rule: denyRule.entry, address });
    const allowRule = allow.matchAddress(family, words, port);
    if (enforced && !allowedByName && !allowRule) return refused("not-in-allow-list", { address });
    const range = allowPrivate || allowRule ? undefined : classifyWords(family, words);
    if (range) return refused("private-address", { range, address });
    passedBy = allowRule ?? allowedByName;
    return undefined;
  }

  function denyCarried(family: 4 | 6, port: number): EgressRule | undefined {
    const v4 = deny.hasNetworks ? carriedIPv4(family, words) : -1;
    if (v4 < 0) return undefined;
    carried[0] = v4;
    return deny.matchAddress(4, carried, port);
  }

  function admitted(dialable: string[], rule: EgressRule | undefined): EgressDecision {
    const address = dialable[0]!;
    return rule ? { allowed: true, reason: "allow-rule", rule: rule.entry, address, dialable } : { allowed: true, reason: "default", address, dialable };
  }

  /** The name rules' verdict: a refusal, or the allow rule that named the host (if any). */
  function screenName(read: NumericHost, host: string, port: number): EgressDecision | { allowedByName: EgressRule | undefined } {
    if (read.kind === "invalid") return INVALID_HOST;
    const name = read.kind === "name" ? canonicalName(host) : undefined;
    const denyName = name === undefined ? undefined : deny.matchName(name, port);
    if (denyName) return refused("deny-rule", { rule: denyName.entry });
    const allowedByName = name === undefined ? undefined : allow.matchName(name, port);
    // Without address rules to consult, an unlisted name is refused before looking at addresses.
    if (enforced && !allowedByName && !allow.hasNetworks) return refused("not-in-allow-list");
    return { allowedByName };
  }

  return {
    screen(host, port) {
      const verdict = screenName(parseNumericHost(host), host, port);
      return "allowed" in verdict ? verdict : undefined;
    },
    decide({ host, port, addresses }) {
      const read = parseNumericHost(host);
      const verdict = screenName(read, host, port);
      if ("allowed" in verdict) return verdict;
      const { allowedByName } = verdict;
      const candidates = read.kind === "ip" ? [read.address] : addresses;
      if (candidates.length === 0) return INVALID_HOST;
      let firstRefusal: EgressDecision | undefined;
      let firstPassedBy: EgressRule | undefined;
      const dialable: string[] = [];
      for (const address of candidates) {
        const why = refusal(address, port, allowedByName);
        if (why !== undefined) firstRefusal ??= why;
        else if (dialable.push(address) === 1) firstPassedBy = passedBy;
      }
      return dialable.length > 0 ? admitted(dialable, firstPassedBy) : firstRefusal!;
    },
  };
}

/**
 * Whether `rules` name a destination, in the lists' syntax (host, `*.domain`, `host:port`, IP,
 * CIDR): `-intercept-hosts`. Numeric hosts are read by the one parser, as for decisions.
 */
export function createDestinationMatcher(rules: readonly EgressRule[]): (host: string, port: number) => boolean {
  const index = new RuleIndex(rules);
  const words = new Uint32Array(4);
  return (host, port) => {
    const read = parseNumericHost(host);
    if (read.kind === "invalid") return false;
    if (read.kind === "name") return index.matchName(canonicalName(host), port) !== undefined;
    const family = parseIp(read.address, 0, read.address.length, words);
    return family !== 0 && index.matchAddress(family, words, port) !== undefined;
  };
}
