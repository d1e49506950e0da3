/**
 * @module
 * Entries of `-egress-allow` / `-egress-deny` and of their files, parsed into rules. An entry is
 * `host`, `*.domain` (subdomains only, not the apex, as in smokescreen), `host:port`, an IP in
 * any spelling the URL parser reads (canonicalised by ../net/numeric-host.ts, so `0177.1` is the
 * rule for 127.0.0.1), a CIDR, or `[v6]:port`. Reading the files and re-reading them on change
 * belongs to whoever owns the flags; this module only turns text into rules or says why not.
 */
import { IpSet } from "../net/ip.ts";
import { parseNumericHost } from "../net/numeric-host.ts";

/** What one entry matches; `port` absent means any port. */
export type EgressRule =
  | { readonly kind: "host"; readonly entry: string; readonly host: string; readonly port?: number }
  | { readonly kind: "subdomains"; readonly entry: string; readonly domain: string; readonly port?: number }
  | { readonly kind: "network"; readonly entry: string; readonly cidr: string; readonly port?: number };

export type RuleResult = { readonly rule: EgressRule } | { readonly error: string };

/** Rules parsed from a list or a file, and one message per entry that was refused. */
export interface ParsedRules {
  readonly rules: EgressRule[];
  readonly errors: string[];
}

/** Labels of letters, digits, `-` and `_` (which some service names use), in punycode. */
const DOMAIN_NAME = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$/;
const PORT = /^[0-9]{1,5}$/;

const refuse = (entry: string, why: string): RuleResult => ({ error: `${JSON.stringify(entry)}: ${why}` });

/** Lower case without the trailing dot of a fully qualified name: the form rules and hosts are compared in. */
export const canonicalName = (host: string): string => {
  const lower = host.toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
};

/** Parses one entry (surrounding whitespace ignored). */
export function parseEgressRule(text: string): RuleResult {
  const entry = text.trim();
  if (entry === "") return { error: "empty entry" };
  const split = splitPort(entry);
  if ("error" in split) return refuse(entry, split.error);
  const { host, port } = split;
  if (host.includes("/")) return network(entry, host, port);
  if (host.startsWith("*.")) return subdomains(entry, host.slice(2), port);
  if (host.includes("*")) return refuse(entry, "a wildcard is only allowed as a leading `*.`");
  const read = parseNumericHost(host);
  if (read.kind === "ip") return { rule: { kind: "network", entry, cidr: `${read.address}/${read.family === 4 ? 32 : 128}`, port } };
  if (read.kind === "invalid") return refuse(entry, "not a host name or an IP address (a number out of range, or a character a URL host cannot hold)");
  const name = canonicalName(host);
  if (!DOMAIN_NAME.test(name)) return refuse(entry, "not a host name (letters, digits, `-`, `_` and dots; write IDNs as punycode)");
  return { rule: { kind: "host", entry, host: name, port } };
}

/** `[v6]:port`, `host:port` (exactly one colon) or a bare host; a bare IPv6 takes no port. */
function splitPort(entry: string): { host: string; port?: number } | { error: string } {
  if (entry.startsWith("[")) {
    const close = entry.indexOf("]");
    if (close < 0) return { error: "no closing `]`" };
    const rest = entry.slice(close + 1);
    if (rest === "") return { host: entry.slice(0, close + 1) };
    if (!rest.startsWith(":")) return { error: "after `]` only `:port` may follow" };
    return withPort(entry.slice(0, close + 1), rest.slice(1));
  }
  const colon = entry.indexOf(":");
  if (colon < 0 || entry.indexOf(":", colon + 1) >= 0) return { host: entry };
  return withPort(entry.slice(0, colon), entry.slice(colon + 1));
}

function withPort(host: string, port: string): { host: string; port: number } | { error: string } {
  const value = Number(port);
  if (!PORT.test(port) || value < 1 || value > 65535) return { error: `${JSON.stringify(port)} is not a port (1–65535)` };
  return { host, port: value };
}

function subdomains(entry: string, domain: string, port: number | undefined): RuleResult {
  const read = parseNumericHost(domain);
  const name = canonicalName(domain);
  if (read.kind !== "name" || !DOMAIN_NAME.test(name)) return refuse(entry, "`*.` must be followed by a domain name");
  return { rule: { kind: "subdomains", entry, domain: name, port } };
}

/** A CIDR, its address in any spelling parseNumericHost reads; IpSet checks the prefix length. */
function network(entry: string, host: string, port: number | undefined): RuleResult {
  const slash = host.indexOf("/");
  const read = parseNumericHost(host.slice(0, slash));
  if (read.kind !== "ip") return refuse(entry, "a CIDR needs an IP address before the `/`");
  const cidr = `${read.address}${host.slice(slash)}`;
  try {
    new IpSet().add(cidr);
  } catch (error) {
    return refuse(entry, (error as Error).message);
  }
  return { rule: { kind: "network", entry, cidr, port } };
}

/** A flag's comma list: `-egress-allow api.github.com,*.example.com,10.1.2.3:8443`. */
export function parseEgressList(list: string): ParsedRules {
  return collect(list.split(","), (error) => error, (entry) => entry.trim() === "");
}

/**
 * A rules file: one entry per line, `#` starts a comment (whole-line or trailing), blank lines
 * are skipped. Each refused line is reported as `file:line: why`.
 */
export function parseEgressFile(text: string, fileName: string): ParsedRules {
  const lines = text.split(/\r?\n/).map((line) => {
    const hash = line.indexOf("#");
    return hash < 0 ? line : line.slice(0, hash);
  });
  return collect(lines, (error, index) => `${fileName}:${index + 1}: ${error}`, (line) => line.trim() === "");
}

function collect(entries: readonly string[], locate: (error: string, index: number) => string, skip: (entry: string) => boolean): ParsedRules {
  const rules: EgressRule[] = [];
  const errors: string[] = [];
  entries.forEach((entry, index) => {
    if (skip(entry)) return;
    const result = parseEgressRule(entry);
    if ("rule" in result) rules.push(result.rule);
    else errors.push(locate(result.error, index));
  });
  return { rules, errors };
}
