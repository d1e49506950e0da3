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
}

export function createDialPlan(options: DialPlanOptions): DialPlan {
  const decisions = new Map<EgressReason, number>();
  const log = options.log;

  function decided(request: DialRequest, role: string | undefined, decision: EgressDecision, addresses: readonly string[]): EgressDecision {
    decisions.set(decision.reason, (decisions.get(decision.reason) ?? 0) + 1);
    if (request.record) request.record.egress = { allowed: decision.allowed, reason: decision.reason, rule: decision.rule, range: decision.range, role };
    if (log?.wants(decision.allowed)) log.write(decisionLine(request, role, decision, addresses), decision.allowed);
    return decision;
  }

  return {
    decisions,
    async dial(request) {
      const { policy, role } = options.policy(request);
      const { host, port } = request;
      const screened = policy.screen(host, port);
      if (screened) throw refusal(request, decided(request, role, screened, []));
      const read = parseNumericHost(host);
      // A numeric host is its own only address; only names go to the resolver.
      const addresses = read.kind === "ip" ? [read.address] : (await options.resolver.resolve(canonicalName(host))).addresses;
      // The policy read once, for both decisions: a reload in between must not mix two lists.
      const decision = decided(request, role, policy.decide({ host, port, addresses }), addresses);
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
function decisionLine(request: DialRequest, role: string | undefined, decision: EgressDecision, addresses: readonly string[]): string {
  const fields = [
    `egress ${decision.allowed ? "allow" : "deny"}`,
    `client=${request.client}`,
    `user=${request.user === undefined ? "-" : JSON.stringify(request.user)}`,
    ...(request.identity ? [`subject=${JSON.stringify(request.identity.subject)}`] : []),
    ...(role === undefined ? [] : [`role=${JSON.stringify(role)}`]),
    `host=${JSON.stringify(request.host)}`,
    `port=${request.port}`,
    `addresses=${addresses.join(",") || "-"}`,
    `reason=${decision.reason}`,
  ];
  if (decision.rule !== undefined) fields.push(`rule=${JSON.stringify(decision.rule)}`);
  if (decision.range !== undefined) fields.push(`range=${decision.range}`);
  if (decision.address !== undefined) fields.push(`${decision.allowed ? "dial" : "address"}=${decision.address}`);
  return fields.join(" ");
}
