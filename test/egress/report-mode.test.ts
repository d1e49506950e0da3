/**
 * Report mode on the dial plan itself: what the allow and deny rules refuse is let through,
 * logged as would-deny with the rule and counted, while the private-address guard and invalid
 * hosts stay refused. The addresses are of every kind here, as this is the policy decision; a
 * resolver with fixed answers stands in for DNS and nothing is dialed.
 */
import { describe, expect, test } from "bun:test";
import { createDialPlan, type DialRequest, WOULD_DENY_DESTINATIONS } from "../../src/egress/dial.ts";
import type { NameResolver } from "../../src/egress/dns.ts";
import { createEgressPolicy, type EgressPolicyOptions } from "../../src/egress/policy.ts";
import { createRolePolicies, parseEgressRoles, type EgressMode, type EgressRole } from "../../src/egress/roles.ts";
import { parseEgressList } from "../../src/egress/rules.ts";
import { ProxyError } from "../../src/exchange/errors.ts";

const ANSWERS: Record<string, string[]> = {
  "api.example.com": ["140.82.112.3"],
  "blocked.example.com": ["151.101.1.69"],
  "metadata.example.com": ["169.254.169.254"],
  "api2.example.com": ["104.16.132.229"],
};
const resolver: NameResolver = {
  async resolve(name) {
    const addresses = ANSWERS[name];
    if (!addresses) throw new ProxyError(502, "dns-failed", `Bad Gateway: ${name} does not resolve`);
    return { addresses, ttl: 1000, fromCache: false };
  },
};
const rules = (list: string) => parseEgressList(list).rules;
const GLOBAL: EgressPolicyOptions = { allow: rules("api.example.com"), deny: rules("blocked.example.com") };

function plan(mode: EgressMode | undefined, options: EgressPolicyOptions = GLOBAL) {
  const lines: { line: string; loud: boolean }[] = [];
  const report = mode === "report" ? createEgressPolicy({ allowPrivate: options.allowPrivate }) : undefined;
  const dialPlan = createDialPlan({
    policy: () => ({ policy: createEgressPolicy(options), role: undefined, report }),
    resolver,
    log: { wants: () => true, write: (line, allowed) => void lines.push({ line, loud: !allowed }) },
  });
  return { dialPlan, lines };
}

const request = (host: string, port = 443): DialRequest & { record: { egress: unknown } } => ({ host, port, client: "10.0.0.7", record: { egress: undefined } });
const refused = (promise: Promise<unknown>) => promise.then(() => undefined, (err: unknown) => err as ProxyError);

describe("-egress-mode=report", () => {
  test("a destination not on the allow list is let through, logged loud as would-deny with the reason, counted by destination", async () => {
    const { dialPlan, lines } = plan("report");
    const req = request("api2.example.com");
    const dial = await dialPlan.dial(req);
    expect(dial.address).toBe("104.16.132.229");
    expect(req.record.egress).toMatchObject({ allowed: true, wouldDeny: { reason: "not-in-allow-list" } });
    expect(lines).toEqual([
      { line: 'egress would-deny client=10.0.0.7 user=- host="api2.example.com" port=443 addresses=104.16.132.229 reason=default would=not-in-allow-list mode=report dial=104.16.132.229', loud: true },
    ]);
    expect(dialPlan.wouldDeny.get("not-in-allow-list")).toEqual(new Map([["api2.example.com:443", 1]]));
  });

  test("a name a deny rule refuses is still resolved and let through, the rule named", async () => {
    const { dialPlan, lines } = plan("report");
    const dial = await dialPlan.dial(request("blocked.example.com", 8443));
    expect(dial.address).toBe("151.101.1.69");
    expect(lines[0]!.line).toContain('would=deny-rule rule="blocked.example.com" mode=report');
    expect(dialPlan.wouldDeny.get("deny-rule")?.get("blocked.example.com:8443")).toBe(1);
  });

  test("never a private address: the guard still refuses the metadata endpoint, named or numeric, and that is no would-deny", async () => {
    const { dialPlan } = plan("report");
    for (const host of ["metadata.example.com", "169.254.169.254", "10.1.2.3", "127.0.0.1"]) {
      const err = await refused(dialPlan.dial(request(host, 80)));
      expect([err?.status, err?.reason]).toEqual([403, "egress-denied"]);
    }
    expect(dialPlan.wouldDeny.size).toBe(0);
  });

  test("-egress-allow-private with report mode: the guard lets private addresses through, as it would in enforce mode", async () => {
    const { dialPlan } = plan("report", { ...GLOBAL, allowPrivate: true });
    expect((await dialPlan.dial(request("10.1.2.3", 80))).address).toBe("10.1.2.3");
    expect(dialPlan.wouldDeny.get("not-in-allow-list")?.get("10.1.2.3:80")).toBe(1);
  });

  test("an invalid host is refused all the same", async () => {
    const { dialPlan } = plan("report");
    expect((await refused(dialPlan.dial(request("bad host"))))?.status).toBe(400);
  });

  test("what the rules allow is an ordinary allow, not a would-deny", async () => {
    const { dialPlan, lines } = plan("report");
    await dialPlan.dial(request("api.example.com"));
    expect(lines[0]!.line).toStartWith("egress allow ");
    expect(lines[0]!.loud).toBe(false);
    expect(dialPlan.wouldDeny.size).toBe(0);
  });

  test(`past ${WOULD_DENY_DESTINATIONS} destinations, would-deny counts the rest as "other": clients choose destinations`, async () => {
    const { dialPlan } = plan("report", { allow: rules("8.8.8.8") });
    for (let port = 1; port <= WOULD_DENY_DESTINATIONS + 5; port++) await dialPlan.dial(request("8.8.4.4", port));
    const counts = dialPlan.wouldDeny.get("not-in-allow-list")!;
    expect(counts.size).toBe(WOULD_DENY_DESTINATIONS + 1);
    expect(counts.get("other")).toBe(5);
  });
});

test("enforce mode (the default) refuses what report mode would let through", async () => {
  const { dialPlan } = plan(undefined);
  expect((await refused(dialPlan.dial(request("blocked.example.com"))))?.status).toBe(403);
  expect(dialPlan.wouldDeny.size).toBe(0);
});

describe("a role's mode line wins over -egress-mode", () => {
  const roles = (text: string): readonly EgressRole[] => {
    const parsed = parseEgressRoles(text, "roles");
    if ("errors" in parsed) throw new Error(parsed.errors.join("; "));
    return parsed.roles;
  };
  const ROLES = "[batch]\nmatch user=batch\nmode report\nallow api.example.com\n\n[strict]\nmatch user=strict\nmode enforce\nallow api.example.com\n\n[default]\nallow api.example.com\n";

  test.each<[EgressMode, string, boolean]>([
    ["enforce", "batch", true],
    ["enforce", "strict", false],
    ["enforce", "nobody", false],
    ["report", "strict", false],
    ["report", "nobody", true],
  ])("-egress-mode=%s, user %s: reported %p", (mode, user, reported) => {
    const choose = createRolePolicies(roles(ROLES), GLOBAL, mode);
    expect(choose({ user }).report !== undefined).toBe(reported);
  });

  test("a mode is enforce or report, once per role", () => {
    expect(parseEgressRoles("[a]\nmode loud\n[default]\n", "roles")).toEqual({ errors: ['roles:2: "loud": a mode is enforce or report'] });
    expect(parseEgressRoles("[a]\nmode report\nmode enforce\n[default]\n", "roles")).toEqual({ errors: ["roles:3: role [a] already has a mode"] });
  });
});
