/**
 * The egress roles file: what it parses to, what it refuses (every line, as `file:line: why`),
 * which role a client gets, and what each role's policy lets through. Pure: nothing is resolved
 * or dialed, so private addresses appear only in decisions.
 */
import { describe, expect, test } from "bun:test";
import { createRoleChooser, createRolePolicies, parseEgressRoles, type EgressClient, type EgressRole } from "../../src/egress/roles.ts";
import { parseEgressList, parseEgressRule, type EgressRule } from "../../src/egress/rules.ts";
import type { ClientIdentity } from "../../src/tls/identity.ts";

const FILE = "/etc/sallyport/roles";
const PUBLIC = "140.82.112.5";

const EXAMPLE = `# sallyport egress roles
[billing]                      # a role
match san=URI:spiffe://cluster.local/ns/pay/sa/billing   # any one match line picks the role
match cn=billing-v2
match user=alice               # the forward port's proxy user
allow api.stripe.com           # entries in the egress list syntax
allow *.stripe.com:443
deny 203.0.113.0/24

  [ci]
  allow *                      # anything the deny rules and the guard let through

[default]                      # required
allow api.github.com
`;

const rule = (entry: string): EgressRule => {
  const result = parseEgressRule(entry);
  if ("error" in result) throw new Error(result.error);
  return result.rule;
};

/** The roles of a text that must parse. */
function roles(text: string): readonly EgressRole[] {
  const parsed = parseEgressRoles(text, FILE);
  if ("errors" in parsed) throw new Error(parsed.errors.join("; "));
  return parsed.roles;
}

/** The errors of a text that must be refused. */
function errors(text: string): string[] {
  const parsed = parseEgressRoles(text, FILE);
  if (!("errors" in parsed)) throw new Error(`parsed: ${JSON.stringify(parsed.roles)}`);
  return parsed.errors;
}

const identity = (commonName: string | undefined, ...sans: string[]): ClientIdentity => ({ subject: commonName ? `CN=${commonName}` : "", commonName, sans });

describe("parseEgressRoles", () => {
  test("the example parses: roles in file order, matches, open and rule lists", () => {
    expect(roles(EXAMPLE)).toEqual([
      {
        name: "billing",
        matches: [
          { kind: "san", value: "URI:spiffe://cluster.local/ns/pay/sa/billing" },
          { kind: "cn", value: "billing-v2" },
          { kind: "user", value: "alice" },
        ],
        open: false,
        allow: [rule("api.stripe.com"), rule("*.stripe.com:443")],
        deny: [rule("203.0.113.0/24")],
      },
      { name: "ci", matches: [], open: true, allow: [], deny: [] },
      { name: "default", matches: [], open: false, allow: [rule("api.github.com")], deny: [] },
    ]);
  });

  test("CRLF line ends, a value with spaces, and an empty [default]", () => {
    expect(roles("[ops]\r\nmatch cn=Ops Team\r\n[default]\r\n")).toEqual([
      { name: "ops", matches: [{ kind: "cn", value: "Ops Team" }], open: false, allow: [], deny: [] },
      { name: "default", matches: [], open: false, allow: [], deny: [] },
    ]);
  });

  test.each<[label: string, text: string, expected: string[]]>([
    ["no [default]", "[ci]\nallow *\n", [`${FILE}: no [default] section: say what clients with no role may reach (an empty [default] reaches nothing)`]],
    ["an empty file", "# nothing\n", [`${FILE}: no [default] section: say what clients with no role may reach (an empty [default] reaches nothing)`]],
    ["a line before the first section", "allow a.example\n[default]\n", [`${FILE}:1: "allow a.example": before the first [role] section`]],
    ["a bad role name", "[default]\n[pay ments]\n[]\n", [`${FILE}:2: "[pay ments]": a role name is letters, digits, \`.\`, \`_\` and \`-\``, `${FILE}:3: "[]": a role name is letters, digits, \`.\`, \`_\` and \`-\``]],
    ["a role twice", "[ci]\n[default]\n\n[ci]\n", [`${FILE}:4: role [ci] is already defined on line 1`]],
    ["[default] twice", "[default]\n[default]\n", [`${FILE}:2: role [default] is already defined on line 1`]],
    ["match in [default]", "[default]\nmatch cn=anyone\n", [`${FILE}:2: [default] takes no match lines: it is the role of clients no other role picks`]],
    ["an unknown match kind, and an empty value", "[a]\nmatch ou=pay\nmatch cn=\nmatch\n[default]\n", [
      `${FILE}:2: "ou=pay": a match is cn=VALUE, san=VALUE or user=VALUE`,
      `${FILE}:3: "cn=": a match is cn=VALUE, san=VALUE or user=VALUE`,
      `${FILE}:4: "": a match is cn=VALUE, san=VALUE or user=VALUE`,
    ]],
    ["a SAN without its type", "[a]\nmatch san=spiffe://cluster.local/ns/pay/sa/billing\n[default]\n", [
      `${FILE}:2: "san=spiffe://cluster.local/ns/pay/sa/billing": a SAN is written with its type, as OpenSSL prints it (\`URI:spiffe://…\`, \`DNS:name\`, \`IP Address:10.0.0.7\`)`,
    ]],
    ["bad entries, as parseEgressRule says", "[default]\nallow bad host\ndeny 10.0.0.0/33\nallow\n", [
      `${FILE}:2: "bad host": not a host name or an IP address (a number out of range, or a character a URL host cannot hold)`,
      `${FILE}:3: "10.0.0.0/33": prefix length 33 is out of range`,
      `${FILE}:4: empty entry`,
    ]],
    ["`deny *` is no entry", "[default]\ndeny *\n", [`${FILE}:2: "*": a wildcard is only allowed as a leading \`*.\``]],
    ["`allow *` after an allow list", "[a]\nallow a.example\nallow *\n[default]\n", [`${FILE}:3: role [a] has both \`allow *\` and an allow list (line 2): keep one or the other`]],
    ["an allow list after `allow *`", "[a]\nallow *\n\nallow a.example\n[default]\n", [`${FILE}:4: role [a] has both \`allow *\` and an allow list (line 2): keep one or the other`]],
    ["an unknown line", "[default]\npermit a.example\n", [`${FILE}:2: "permit a.example": not a role line (\`[name]\`, \`match\`, \`allow\`, \`deny\` or \`mode\`)`]],
    ["every error at once, lines under a refused header checked", "[bad name]\nallow bad host\n[default]\nmatch cn=x\n", [
      `${FILE}:1: "[bad name]": a role name is letters, digits, \`.\`, \`_\` and \`-\``,
      `${FILE}:2: "bad host": not a host name or an IP address (a number out of range, or a character a URL host cannot hold)`,
      `${FILE}:4: [default] takes no match lines: it is the role of clients no other role picks`,
    ]],
  ])("refused: %s", (_label, text, expected) => {
    expect(errors(text)).toEqual(expected);
  });

  test("`allow *` twice is still open, not ambiguous", () => {
    expect(roles("[ci]\nallow *\nallow *\n[default]\n")[0]).toMatchObject({ name: "ci", open: true, allow: [] });
  });
});

describe("choosing a role", () => {
  const TEXT = `
[billing]
match san=URI:spiffe://cluster.local/ns/pay/sa/billing
match cn=billing-v2
match user=alice
[ci]
[billing-v2]
[shared]
match user=bob
match san=DNS:shared.internal
[bob-too]
match user=bob
[default]
`;
  const choose = createRoleChooser(roles(TEXT));
  const roleOf = (client: EgressClient) => choose(client).name;

  test.each<[label: string, client: EgressClient, role: string]>([
    ["a role without match lines: the CN equal to its name", { identity: identity("ci") }, "ci"],
    ["... exactly: CN matching is case-sensitive", { identity: identity("CI") }, "default"],
    ["... not a SAN equal to its name", { identity: identity(undefined, "DNS:ci") }, "default"],
    ["... not a proxy user of its name", { user: "ci" }, "default"],
    ["by SAN", { identity: identity("whoever", "DNS:other.internal", "URI:spiffe://cluster.local/ns/pay/sa/billing") }, "billing"],
    ["by cn=", { identity: identity("billing-v2") }, "billing"],
    ["by user=", { user: "alice" }, "billing"],
    ["a role with match lines is not picked by its name as CN", { identity: identity("billing") }, "default"],
    ["first match wins: a cn= above the role named like the CN", { identity: identity("billing-v2") }, "billing"],
    ["first match wins: of two roles matching the user", { user: "bob" }, "shared"],
    ["first match wins across kinds: the earlier role, whichever line matched", { identity: identity("ci", "DNS:shared.internal"), user: "alice" }, "billing"],
    ["... and not the order the kinds are looked at", { identity: identity(undefined, "DNS:shared.internal"), user: "bob" }, "shared"],
    ["an identity no role matches", { identity: identity("stranger", "DNS:stranger.internal"), user: "mallory" }, "default"],
    ["no identity and no user", {}, "default"],
    ["a client named `default` is the default role anyway", { identity: identity("default") }, "default"],
  ])("%s", (_label, client, role) => {
    expect(roleOf(client)).toBe(role);
  });
});

describe("a role's policy", () => {
  interface Global {
    readonly allow?: string;
    readonly deny?: string;
    readonly allowPrivate?: boolean;
  }

  function policies(text: string, { allow = "", deny = "", allowPrivate }: Global = {}) {
    return createRolePolicies(roles(text), { allow: parseEgressList(allow).rules, deny: parseEgressList(deny).rules, allowPrivate });
  }

  /** The decision for role `name` (picked by CN) on `host` resolving to `address`. */
  const decide = (forClient: ReturnType<typeof policies>, name: string, host: string, address = PUBLIC) =>
    forClient({ identity: identity(name) }).policy.decide({ host, port: 443, addresses: [address] });

  test("the choice names the role; the same prebuilt answer every time", () => {
    const forClient = policies("[ci]\nallow *\n[default]\n");
    expect(forClient({ identity: identity("ci") }).role).toBe("ci");
    expect(forClient({}).role).toBe("default");
    expect(forClient({ identity: identity("ci") })).toBe(forClient({ identity: identity("ci") }));
  });

  test("an empty [default] reaches nothing: refused by screen(), before any lookup, and by decide()", () => {
    const { policy } = policies("[default]\n")({});
    expect(policy.screen("api.github.com", 443)).toMatchObject({ allowed: false, reason: "not-in-allow-list" });
    expect(policy.decide({ host: "api.github.com", port: 443, addresses: [PUBLIC] })).toMatchObject({ allowed: false, reason: "not-in-allow-list", dialable: [] });
    expect(policy.decide({ host: PUBLIC, port: 443, addresses: [] })).toMatchObject({ allowed: false, reason: "not-in-allow-list" });
  });

  test("a role's allow list is enforced: only its entries pass", () => {
    const forClient = policies("[billing]\nallow api.stripe.com\n[default]\n");
    expect(["api.stripe.com", "api.github.com"].map((host) => decide(forClient, "billing", host).allowed)).toEqual([true, false]);
    expect(decide(forClient, "billing", "api.github.com")).toMatchObject({ reason: "not-in-allow-list" });
  });

  test("the global allow rules join every closed role's", () => {
    const forClient = policies("[billing]\nallow api.stripe.com\n[default]\n", { allow: "api.github.com" });
    expect(["api.stripe.com", "api.github.com", "evil.example"].map((host) => decide(forClient, "billing", host).allowed)).toEqual([true, true, false]);
    expect(["api.stripe.com", "api.github.com"].map((host) => decide(forClient, "default", host).allowed)).toEqual([false, true]);
  });

  test("a global deny rule beats a role's allow (unlike smokescreen)", () => {
    const forClient = policies("[billing]\nallow *.stripe.com\n[default]\n", { deny: "files.stripe.com" });
    expect(decide(forClient, "billing", "files.stripe.com")).toMatchObject({ allowed: false, reason: "deny-rule", rule: "files.stripe.com" });
    expect(decide(forClient, "billing", "api.stripe.com")).toMatchObject({ allowed: true, reason: "allow-rule", rule: "*.stripe.com" });
  });

  test("a role's deny beats its own allow and the global allow, and stays in its role", () => {
    const forClient = policies("[billing]\nallow *.stripe.com\ndeny files.stripe.com\ndeny 203.0.113.0/24\n[ci]\nallow *\n[default]\n", { allow: "files.stripe.com" });
    expect(decide(forClient, "billing", "files.stripe.com")).toMatchObject({ allowed: false, reason: "deny-rule", rule: "files.stripe.com" });
    expect(decide(forClient, "billing", "api.stripe.com", "203.0.113.9")).toMatchObject({ allowed: false, reason: "deny-rule", rule: "203.0.113.0/24" });
    expect(decide(forClient, "ci", "files.stripe.com")).toMatchObject({ allowed: true, reason: "allow-rule", rule: "files.stripe.com" });
  });

  test("`allow *` opens the role: every public destination, or the global list when there is one", () => {
    const open = policies("[ci]\nallow *\n[default]\n");
    expect(decide(open, "ci", "anything.example")).toMatchObject({ allowed: true, reason: "default" });
    const listed = policies("[ci]\nallow *\n[default]\n", { allow: "api.github.com" });
    expect(["api.github.com", "anything.example"].map((host) => decide(listed, "ci", host).allowed)).toEqual([true, false]);
  });

  test("the private-address guard holds inside an open role; allowPrivate and an IP allow rule open it as without roles", () => {
    const text = "[ci]\nallow *\n[db]\nallow 10.0.0.1\n[default]\n";
    const guarded = policies(text);
    expect(decide(guarded, "ci", "intranet.example", "10.0.0.1")).toMatchObject({ allowed: false, reason: "private-address", range: "private" });
    expect(decide(guarded, "ci", "metadata.example", "169.254.169.254")).toMatchObject({ allowed: false, range: "cloud-metadata" });
    expect(decide(guarded, "db", "db.internal", "10.0.0.1")).toMatchObject({ allowed: true, reason: "allow-rule", rule: "10.0.0.1" });
    expect(decide(policies(text, { allowPrivate: true }), "ci", "intranet.example", "10.0.0.1")).toMatchObject({ allowed: true, reason: "default" });
  });
});
