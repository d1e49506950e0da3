/**
 * @module
 * The one dial plan for every destination a client chooses — `<dynamic>` routes, forward-proxy
 * requests, CONNECT (and, later, SNI and the egress suffix): screen the name, resolve it with our
 * own DNS cache, decide on every address it resolved to, and hand back exactly one checked
 * address. The caller dials that address and nothing else (fetch to the IP with `Host` and TLS
 * `serverName` from the name, `Bun.connect` to the IP), so a DNS answer that changes between the
 * check and the connect (rebinding) changes nothing: the name is never resolved a second time.
 *
 * Each decision is one log line and one count by reason; the line names the client, the proxy
 * user, the host asked for, the addresses, and the rule or range that decided.
 *
 * In report mode (`-egress-mode=report`, or a role's `mode report`) a destination the allow and
 * deny rules refuse is let through: decided again by the private-address guard alone, so report
 * mode never opens the metadata endpoint, and logged at the denials' level as `egress would-deny`
 * with the rule that would have refused it, and counted by reason and destination.
 */
import { badRequest, ProxyError } from "../exchange/errors.ts";
import type { EgressVerdict } from "../exchange/record.ts";
import { parseNumericHost } from "../net/numeric-host.ts";
import type { ClientIdentity } from "../tls/identity.ts";
import type { NameResolver } from "./dns.ts";
import type { EgressDecision, EgressReason } from "./policy.ts";
import type { ClientPolicy } from "./roles.ts";
import { canonicalName } from "./rules.ts";

export interface DialRequest {
  /** as the client named it, without the port; IPv6 without brackets */
  readonly host: string;
  readonly port: number;
  /** the client's address, proxy user and certificate identity: for the decision's log line, and the role that decides */
  readonly client: string;
  readonly user?: string | undefined;
  readonly identity?: ClientIdentity | undefined;
  /** the exchange record, which keeps the decision */
  readonly record?: { egress: EgressVerdict | undefined };
}

/** The address to dial, and the decision that allowed it. */
export interface Dial {
  readonly address: string;
  readonly decision: EgressDecision;
}

export interface DialPlanOptions {
  /** the live policy for this client (its role's, with -egress-roles-file): -egress-allow/-deny and their files, re-read on change */
  readonly policy: (client: DialRequest) => ClientPolicy;
  readonly resolver: NameResolver;
  /** where the decision lines go; `allowed` lets the caller log denials louder */
  readonly log?: DecisionLog;
}

/** The decision lines' sink. A line is only formatted when `wants` says it will be written. */
export interface DecisionLog {
  wants(allowed: boolean): boolean;
  write(line: string, allowed: boolean): void;
}

export interface DialPlan {
  /** Rejects with 403 `egress-denied`, 400 for a host no parser reads alike, 502 `dns-failed`, 504 `dns-timeout`. */
  dial(request: DialRequest): Promise<Dial>;
  /** decisions so far, by reason (for metrics) */
  readonly decisions: ReadonlyMap<EgressReason, number>;
  /** report mode's would-be denials, by reason and then `host:port` (for metrics) */
  readonly wouldDeny: ReadonlyMap<EgressReason, ReadonlyMap<string, number>>;
}

/** The rules' refusals report mode lets through; an invalid host or a private address never. */
const REPORTABLE: ReadonlySet<EgressReason> = new Set(["deny-rule", "not-in-allow-list"]);
/** Destinations counted one by one in would-deny; past them, `other` (clients choose destinations). */
export const WOULD_DENY_DESTINATIONS = 1000;

export function createDialPlan(options: DialPlanOptions): DialPlan {
  const decisions = new Map<EgressReason, number>();
  const wouldDeny = new Map<EgressReason, Map<string, number>>();
  let wouldDenyDestinations = 0;
  const log = options.log;

  function decided(request: DialRequest, role: string | undefined, decision: EgressDecision, addresses: readonly string[], reported?: EgressDecision): EgressDecision {
    // Only what was let through is a would-be denial; the guard may still refuse it.
    const would = decision.allowed ? reported : undefined;
    decisions.set(decision.reason, (decisions.get(decision.reason) ?? 0) + 1);
    if (request.record) {
      const wouldDeny = would && { reason: would.reason, rule: would.rule };
      request.record.egress = { allowed: decision.allowed, reason: decision.reason, rule: decision.rule, range: decision.range, role, wouldDeny };
    }
    if (would) countWouldDeny(would.reason, `${request.host.includes(":") ? `[${request.host}]` : request.host}:${request.port}`);
    // A would-be denial is logged as loud as a denial: it is what report mode is for.
    const loud = decision.allowed && !would;
    if (log?.wants(loud)) log.write(decisionLine(request, role, decision, addresses, would), loud);
    return decision;
  }

  function countWouldDeny(reason: EgressReason, destination: string): void {
    let byDestination = wouldDeny.get(reason);
    if (!byDestination) wouldDeny.set(reason, (byDestination = new Map()));
    const known = byDestination.has(destination);
    const key = known || wouldDenyDestinations < WOULD_DENY_DESTINATIONS ? destination : "other";
    if (!known && key === destination) wouldDenyDestinations++;
    byDestination.set(key, (byDestination.get(key) ?? 0) + 1);
  }

  return {
    decisions,
    wouldDeny,
    async dial(request) {
      const { policy, role, report } = options.policy(request);
      const { host, port } = request;
      const screened = policy.screen(host, port);
      // In report mode a name the rules refuse is still resolved, to see what the guard says.
      const reported = (d: EgressDecision | undefined) => report !== undefined && d !== undefined && !d.allowed && REPORTABLE.has(d.reason);
      if (screened && !reported(screened)) throw refusal(request, decided(request, role, screened, []));
      const read = parseNumericHost(host);
      // A numeric host is its own only address; only names go to the resolver.
      const addresses = read.kind === "ip" ? [read.address] : (await options.resolver.resolve(canonicalName(host))).addresses;
      // The policy read once, for both decisions: a reload in between must not mix two lists.
      const ruled = screened ?? policy.decide({ host, port, addresses });
      const would = reported(ruled) ? ruled : undefined;
      const decision = decided(request, role, would ? report!.decide({ host, port, addresses }) : ruled, addresses, would);
      if (!decision.allowed) throw refusal(request, decision);
      return { address: decision.address!, decision };
    },
  };
}

/** What the client is told: which rule or range refused the destination, never more. */
function refusal(request: DialRequest, decision: EgressDecision): ProxyError {
  const where = `${request.host.includes(":") ? `[${request.host}]` : request.host}:${request.port}`;
  switch (decision.reason) {
    case "invalid-host":
      return badRequest(`invalid destination host ${JSON.stringify(request.host)}`);
    case "deny-rule":
      return denied(`${where} is denied by the egress rule ${JSON.stringify(decision.rule)}`);
    case "not-in-allow-list":
      return denied(`${where} is not on the egress allow list`);
    default:
      // A numeric host is its own address: "127.0.0.1:22 resolves to 127.0.0.1" would say nothing.
      return denied(parseNumericHost(request.host).kind === "ip" ? `${where} is a ${decision.range} address` : `${where} resolves to ${decision.address}, a ${decision.range} address`);
  }
}

const denied = (why: string) => new ProxyError(403, "egress-denied", `Forbidden: ${why}`);

/** One `key=value` line per decision; values without spaces, so a line splits on blanks. */
function decisionLine(request: DialRequest, role: string | undefined, decision: EgressDecision, addresses: readonly string[], would?: EgressDecision): string {
  const fields = [
    `egress ${!decision.allowed ? "deny" : would ? "would-deny" : "allow"}`,
    `client=${request.client}`,
    `user=${request.user === undefined ? "-" : JSON.stringify(request.user)}`,
    ...(request.identity ? [`subject=${JSON.stringify(request.identity.subject)}`] : []),
    ...(role === undefined ? [] : [`role=${JSON.stringify(role)}`]),
    `host=${JSON.stringify(request.host)}`,
    `port=${request.port}`,
    `addresses=${addresses.join(",") || "-"}`,
    `reason=${decision.reason}`,
  ];
  if (would) {
    // What the rules said, then what was done: the guard's decision.
    fields.push(`would=${would.reason}`);
    if (would.rule !== undefined) fields.push(`rule=${JSON.stringify(would.rule)}`);
    fields.push("mode=report");
  }
  if (decision.rule !== undefined) fields.push(`rule=${JSON.stringify(decision.rule)}`);
  if (decision.range !== undefined) fields.push(`range=${decision.range}`);
  if (decision.address !== undefined) fields.push(`${decision.allowed ? "dial" : "address"}=${decision.address}`);
  return fields.join(" ");
}
