/**
 * @module
 * Per-client egress roles (`-egress-roles-file`), after smokescreen's: a client is given a role by
 * who it is, and the role says where it may go. The file is line-based; `#` starts a comment
 * (whole-line or trailing, so a SAN holding a `#` cannot be matched), blank lines are skipped:
 *
 * ```
 * [billing]                     # a role; with no match lines, the client certificate's CN "billing"
 * match san=URI:spiffe://cluster.local/ns/pay/sa/billing
 * match cn=billing-v2           # any one match line picks the role
 * match user=alice              # the forward port's proxy user
 * allow *.stripe.com:443        # entries of the egress list syntax (./rules.ts)
 * deny 203.0.113.0/24
 *
 * [ci]
 * allow *                       # open: whatever the deny rules and the private-address guard let through
 *
 * [default]                     # required: clients with no identity, or one no role matches
 * allow api.github.com
 *
 * [batch]
 * match user=batch
 * mode report                   # what it would be denied is allowed, logged and counted (not the private-address guard)
 * allow *.internal.example
 * ```
 *
 * - A client's role is the first one in file order that one of its match lines picks (or, for a
 *   role with no match lines, whose name is the certificate's CN: smokescreen's rule); otherwise
 *   `default`. Matching is exact and case-sensitive: `cn=` against the subject's common name,
 *   `san=` against one SAN as OpenSSL names it (../tls/identity.ts), `user=` against the proxy user.
 * - A role's allow list is the global one (flags and allow file) plus its own, and it is in
 *   force even when empty: a role with no allow lines reaches nothing, so forgetting a line
 *   closes a door rather than opening every one. `allow *` instead leaves the role to the global
 *   list alone, as if there were no roles (no global list either: every public destination).
 * - Deny always wins: the global deny rules (flags and deny file) and the role's own apply to
 *   every role. Unlike smokescreen, where a role's `allowed_domains` beats the global deny list,
 *   a role here cannot reopen what the operator denied for everyone. The private-address guard
 *   and `-egress-allow-private` apply as without roles.
 *
 * The file is taken whole or not at all: every refused line is reported as `file:line: why`.
 * Policies are built once per roles text and lists (see ./lists.ts), never per request.
 */
import type { ClientIdentity } from "../tls/identity.ts";
import { createEgressPolicy, type EgressPolicy, type EgressPolicyOptions } from "./policy.ts";
import { parseEgressRule, type EgressRule } from "./rules.ts";

/** The role of clients no other role picks; every roles file has one. */
export const DEFAULT_ROLE = "default";

/** What a role is chosen by. */
export interface EgressClient {
  /** the verified client certificate's identity, if the client presented one */
  readonly identity?: ClientIdentity;
  /** the forward port's proxy user (`-forward-auth-file`), if the client authenticated */
  readonly user?: string;
}

export interface RoleMatch {
  readonly kind: "cn" | "san" | "user";
  readonly value: string;
}

export interface EgressRole {
  readonly name: string;
  /** empty: the role is picked by a certificate CN equal to its name */
  readonly matches: readonly RoleMatch[];
  /** `allow *`: no allow list of the role's own, only the global one (if any) */
  readonly open: boolean;
  readonly allow: readonly EgressRule[];
  readonly deny: readonly EgressRule[];
  /** `mode report|enforce`; undefined: the global -egress-mode */
  readonly mode?: EgressMode | undefined;
}

/** `enforce` refuses what the rules deny; `report` lets it through, logged and counted as would-deny. */
export type EgressMode = "enforce" | "report";

/** The roles in file order, `default` among them; or every refused line. */
export type ParsedRoles = { readonly roles: readonly EgressRole[] } | { readonly errors: string[] };

/** The policy a client gets, and the name of its role (undefined when there are no roles). */
export interface ClientPolicy {
  readonly policy: EgressPolicy;
  readonly role: string | undefined;
  /**
   * In report mode, the private-address guard alone (with -egress-allow-private as given): what
   * a destination the rules deny is decided by instead. Undefined in enforce mode.
   */
  readonly report?: EgressPolicy | undefined;
}

const ROLE_NAME = /^[A-Za-z0-9._-]+$/;
const SECTION = /^\[(.*)\]$/;
const MATCH = /^(cn|san|user)=(.+)$/;
/** The SAN types OpenSSL prints; a `san=` without one (`san=spiffe://…`) could never match. */
const SAN_TYPE = /^(?:DNS|URI|email|IP Address|DirName|Registered ID|othername|X400Name|EdiPartyName):./;

/** A role while its lines are read, with the lines an ambiguity message names. */
interface Draft {
  readonly name: string;
  readonly line: number;
  readonly matches: RoleMatch[];
  readonly allow: EgressRule[];
  readonly deny: EgressRule[];
  mode?: EgressMode;
  /** the first `allow *` line, and the first other allow line */
  openLine?: number;
  listLine?: number;
}

/** Parses a roles file; each refused line is reported as `file:line: why`. */
export function parseEgressRoles(text: string, fileName: string): ParsedRoles {
  const drafts: Draft[] = [];
  const errors: string[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = withoutComment(raw).trim();
    if (line === "") return;
    const error = readLine(line, index + 1, drafts);
    if (error !== undefined) errors.push(`${fileName}:${index + 1}: ${error}`);
  });
  if (!drafts.some((draft) => draft.name === DEFAULT_ROLE)) {
    errors.push(`${fileName}: no [${DEFAULT_ROLE}] section: say what clients with no role may reach (an empty [${DEFAULT_ROLE}] reaches nothing)`);
  }
  if (errors.length > 0) return { errors };
  return { roles: drafts.map(({ name, matches, openLine, allow, deny, mode }) => ({ name, matches, open: openLine !== undefined, allow, deny, mode })) };
}

function withoutComment(line: string): string {
  const hash = line.indexOf("#");
  return hash < 0 ? line : line.slice(0, hash);
}

/** Adds one non-blank line to the drafts; returns why it is refused, if it is. */
function readLine(line: string, number: number, drafts: Draft[]): string | undefined {
  const section = SECTION.exec(line);
  if (section) return openSection(section[1]!.trim(), number, drafts);
  const space = line.search(/\s/);
  const word = space < 0 ? line : line.slice(0, space);
  const argument = space < 0 ? "" : line.slice(space).trim();
  if (word !== "match" && word !== "allow" && word !== "deny" && word !== "mode") return `${JSON.stringify(line)}: not a role line (\`[name]\`, \`match\`, \`allow\`, \`deny\` or \`mode\`)`;
  const role = drafts.at(-1);
  if (role === undefined) return `${JSON.stringify(line)}: before the first [role] section`;
  if (word === "match") return addMatch(role, argument);
  if (word === "allow") return addAllow(role, argument, number);
  if (word === "mode") return setMode(role, argument);
  return addRule(role.deny, argument);
}

/**
 * Starts a role. A refused header still starts one, so the lines under it are checked (and not
 * blamed on the role above); the file is refused anyway.
 */
function openSection(name: string, number: number, drafts: Draft[]): string | undefined {
  const earlier = drafts.find((draft) => draft.name === name);
  drafts.push({ name, line: number, matches: [], allow: [], deny: [] });
  if (!ROLE_NAME.test(name)) return `${JSON.stringify(`[${name}]`)}: a role name is letters, digits, \`.\`, \`_\` and \`-\``;
  if (earlier) return `role [${name}] is already defined on line ${earlier.line}`;
  return undefined;
}

function addMatch(role: Draft, argument: string): string | undefined {
  if (role.name === DEFAULT_ROLE) return `[${DEFAULT_ROLE}] takes no match lines: it is the role of clients no other role picks`;
  const match = MATCH.exec(argument);
  if (!match) return `${JSON.stringify(argument)}: a match is cn=VALUE, san=VALUE or user=VALUE`;
  const kind = match[1] as RoleMatch["kind"];
  const value = match[2]!;
  if (kind === "san" && !SAN_TYPE.test(value)) return `${JSON.stringify(argument)}: a SAN is written with its type, as OpenSSL prints it (\`URI:spiffe://…\`, \`DNS:name\`, \`IP Address:10.0.0.7\`)`;
  role.matches.push({ kind, value });
  return undefined;
}

/** `allow *` opens the role; with an allow list beside it, which one was meant is anyone's guess. */
function addAllow(role: Draft, argument: string, number: number): string | undefined {
  const open = argument === "*";
  const other = open ? role.listLine : role.openLine;
  if (other !== undefined) return `role [${role.name}] has both \`allow *\` and an allow list (line ${other}): keep one or the other`;
  if (open) {
    role.openLine ??= number;
    return undefined;
  }
  const error = addRule(role.allow, argument);
  if (error === undefined) role.listLine ??= number;
  return error;
}

function setMode(role: Draft, argument: string): string | undefined {
  if (argument !== "enforce" && argument !== "report") return `${JSON.stringify(argument)}: a mode is enforce or report`;
  if (role.mode !== undefined) return `role [${role.name}] already has a mode`;
  role.mode = argument;
  return undefined;
}

function addRule(rules: EgressRule[], entry: string): string | undefined {
  const result = parseEgressRule(entry);
  if ("error" in result) return result.error;
  rules.push(result.rule);
  return undefined;
}

const earlier = (first: number, candidate: number | undefined): number => (candidate !== undefined && candidate < first ? candidate : first);

/**
 * How a client's role is chosen: each match value is indexed to the first role (in file order)
 * that names it, so a choice is a few map lookups, not a walk over every role's lines.
 */
export function createRoleChooser(roles: readonly EgressRole[]): (client: EgressClient) => EgressRole {
  const fallback = roles.find((role) => role.name === DEFAULT_ROLE);
  if (fallback === undefined) throw new Error(`egress roles without a [${DEFAULT_ROLE}] role`);
  const candidates = roles.filter((role) => role !== fallback);
  const index: Record<RoleMatch["kind"], Map<string, number>> = { cn: new Map(), san: new Map(), user: new Map() };
  candidates.forEach((role, position) => {
    const matches: readonly RoleMatch[] = role.matches.length > 0 ? role.matches : [{ kind: "cn", value: role.name }];
    for (const { kind, value } of matches) if (!index[kind].has(value)) index[kind].set(value, position);
  });
  return ({ identity, user }) => {
    let first = candidates.length;
    if (identity !== undefined) {
      if (identity.commonName !== undefined) first = earlier(first, index.cn.get(identity.commonName));
      for (const san of identity.sans) first = earlier(first, index.san.get(san));
    }
    if (user !== undefined) first = earlier(first, index.user.get(user));
    return candidates[first] ?? fallback;
  };
}

/** A role's policy options: the global rules with the role's added, as the module doc says. */
function roleOptions(role: EgressRole, global: EgressPolicyOptions): EgressPolicyOptions {
  const deny = [...(global.deny ?? []), ...role.deny];
  if (role.open) return { ...global, deny };
  return { ...global, deny, allow: [...(global.allow ?? []), ...role.allow], enforceAllowList: true };
}

/**
 * Builds every role's policy from the global options (the flags' and the files' rules,
 * `allowPrivate`) and returns the choice for a client: a prebuilt answer, nothing allocated.
 */
export function createRolePolicies(roles: readonly EgressRole[], global: EgressPolicyOptions, mode: EgressMode = "enforce", guard: EgressPolicy = createEgressPolicy({ allowPrivate: global.allowPrivate })): (client: EgressClient) => ClientPolicy {
  const choose = createRoleChooser(roles);
  const policyOf = (role: EgressRole): ClientPolicy => Object.freeze({ policy: createEgressPolicy(roleOptions(role, global)), role: role.name, report: (role.mode ?? mode) === "report" ? guard : undefined });
  const policies = new Map<EgressRole, ClientPolicy>(roles.map((role) => [role, policyOf(role)]));
  return (client) => policies.get(choose(client))!;
}
