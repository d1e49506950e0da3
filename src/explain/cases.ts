/**
 * @module
 * `sallyport test-policy FILE`: a table of requests and what must become of them, checked against
 * the configured routes and egress policy, so a policy change is reviewed in CI like code. One
 * case a line, `#` comments:
 *
 * ```
 * GET https://api.github.com/x from 10.1.2.3 → allow
 * CONNECT 169.254.169.254:80 → deny private
 * GET http://wiki.corp.example/ resolving 10.0.0.5 → deny private
 * GET http://build.example/ as user=ci via forward → deny allow-list
 * ```
 *
 * Before the arrow (`→` or `->`): the method, the URL (`host:port` for CONNECT, the name for
 * `via sni`), then any of `from ADDR`, `as user=NAME` / `as cn=NAME`, `via forward|address|sni`,
 * `resolving ADDR[,ADDR]` (DNS answers to use; without it names are resolved as serving would).
 * After it: `allow`, `deny`, or `deny` with what must refuse it: `private`, `rule`,
 * `allow-list`, `port`, `route`, `invalid`.
 */
import type { Explanation, ExplainRequest } from "./explain.ts";
import { requestOf, RequestArgsError } from "./request-args.ts";

export interface PolicyCase {
  readonly line: number;
  readonly text: string;
  readonly request: ExplainRequest;
  readonly expect: { readonly allowed: boolean; readonly why?: DenyWord };
}

export type DenyWord = "private" | "rule" | "allow-list" | "port" | "route" | "invalid";

/** What each deny word stands for, in the reasons an explanation gives. */
const DENY_REASONS: Record<DenyWord, readonly string[]> = {
  private: ["private-address"],
  rule: ["deny-rule"],
  "allow-list": ["not-in-allow-list"],
  port: ["connect-port-denied"],
  route: ["no-route"],
  invalid: ["invalid-host", "bad-request", "no-dynamic-target"],
};

export function parseCases(text: string, file: string): { cases: PolicyCase[]; errors: string[] } {
  const cases: PolicyCase[] = [];
  const errors: string[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") return;
    try {
      cases.push(parseCase(line, index + 1));
    } catch (err) {
      if (!(err instanceof RequestArgsError)) throw err;
      errors.push(`${file}:${index + 1}: ${err.message}`);
    }
  });
  return { cases, errors };
}

function parseCase(line: string, number: number): PolicyCase {
  const arrow = line.match(/\s(?:→|->)\s/);
  if (!arrow) throw new RequestArgsError(`${JSON.stringify(line)}: no → between the request and what must become of it`);
  const [method, target, ...words] = line.slice(0, arrow.index).trim().split(/\s+/);
  if (!method || !target) throw new RequestArgsError(`${JSON.stringify(line)}: a case starts with METHOD URL`);
  const options = { headers: [] as [string, string][], client: "127.0.0.1", identity: undefined as string | undefined, user: undefined as string | undefined, via: "forward" as ExplainRequest["via"], dns: true, resolving: undefined as string[] | undefined };
  for (let i = 0; i < words.length; i += 2) {
    const [word, value] = [words[i]!, words[i + 1]];
    if (value === undefined) throw new RequestArgsError(`${JSON.stringify(word)} needs a value`);
    if (word === "from") options.client = value;
    else if (word === "via" && (value === "forward" || value === "address" || value === "sni")) options.via = value;
    else if (word === "resolving") options.resolving = value.split(",");
    else if (word === "as" && value.startsWith("user=")) options.user = value.slice(5);
    else if (word === "as" && value.startsWith("cn=")) options.identity = value.slice(3);
    else throw new RequestArgsError(`${JSON.stringify(`${word} ${value}`)}: not from ADDR, as user=NAME, as cn=NAME, via forward|address|sni or resolving ADDR[,ADDR]`);
  }
  const [verdict, why, extra] = line.slice(arrow.index! + arrow[0].length).trim().split(/\s+/);
  if ((verdict !== "allow" && verdict !== "deny") || extra !== undefined || (verdict === "allow" && why !== undefined) || (why !== undefined && !(why in DENY_REASONS))) {
    throw new RequestArgsError(`${JSON.stringify(line)}: after → comes allow, deny, or deny ${Object.keys(DENY_REASONS).join("|")}`);
  }
  return { line: number, text: line, request: requestOf(method.toUpperCase(), target, options), expect: { allowed: verdict === "allow", why: why as DenyWord | undefined } };
}

/** Why the explanation does not meet the case; undefined when it does. */
export function mismatch(c: PolicyCase, e: Explanation): string | undefined {
  const got = `${e.verdict.allowed ? "allow" : "deny"} (${e.verdict.reason})`;
  if (c.expect.allowed !== e.verdict.allowed) return `expected ${c.expect.allowed ? "allow" : "deny"}, got ${got}`;
  if (c.expect.why && !DENY_REASONS[c.expect.why].includes(e.verdict.reason)) return `expected deny ${c.expect.why}, got ${got}`;
  return undefined;
}
