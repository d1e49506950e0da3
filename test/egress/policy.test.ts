/**
 * The egress decision, row by row. Pure: nothing is resolved or dialed, so any address may
 * appear here, private ones included.
 */
import { describe, expect, test } from "bun:test";
import { createEgressPolicy, type EgressDecision, type EgressPolicyOptions } from "../../src/egress/policy.ts";
import { parseEgressList } from "../../src/egress/rules.ts";

interface Setup {
  readonly allow?: string;
  readonly deny?: string;
  readonly allowPrivate?: boolean;
  readonly enforceAllowList?: boolean;
}

function policy({ allow = "", deny = "", allowPrivate, enforceAllowList }: Setup) {
  const lists = [parseEgressList(allow), parseEgressList(deny)];
  expect(lists.flatMap((list) => list.errors)).toEqual([]);
  const options: EgressPolicyOptions = { allow: lists[0]!.rules, deny: lists[1]!.rules, allowPrivate, enforceAllowList };
  return createEgressPolicy(options);
}

type Expected = Partial<EgressDecision>;
type Row = [label: string, setup: Setup, host: string, port: number, addresses: string[], expected: Expected];

const PUBLIC = "140.82.112.5";
const PUBLIC6 = "2606:4700:4700::1111";

/** One row: the decision for the destination under the setup holds what the row expects. */
const check = (_label: string, setup: Setup, host: string, port: number, addresses: string[], expected: Expected) => {
  expect(policy(setup).decide({ host, port, addresses })).toMatchObject(expected);
};

describe("rules", () => {
  test.each<Row>([
    ["no rules: a public address passes", {}, "api.github.com", 443, [PUBLIC], { allowed: true, reason: "default", address: PUBLIC, dialable: [PUBLIC] }],
    ["deny by host", { deny: "api.github.com" }, "api.github.com", 443, [PUBLIC], { allowed: false, reason: "deny-rule", rule: "api.github.com", dialable: [] }],
    ["deny by host, any case and a trailing dot", { deny: "api.github.com" }, "API.GitHub.COM.", 443, [PUBLIC], { allowed: false, reason: "deny-rule" }],
    ["deny wins over allow (same host)", { allow: "api.github.com", deny: "api.github.com" }, "api.github.com", 443, [PUBLIC], { allowed: false, reason: "deny-rule" }],
    ["deny *.domain wins over an allowed subdomain", { allow: "api.example.com", deny: "*.example.com" }, "api.example.com", 443, [PUBLIC], { allowed: false, reason: "deny-rule", rule: "*.example.com" }],
    ["deny by address wins over allow by name", { allow: "api.github.com", deny: `${PUBLIC}` }, "api.github.com", 443, [PUBLIC], { allowed: false, reason: "deny-rule", rule: PUBLIC, address: PUBLIC }],
    ["deny by CIDR", { deny: "140.82.112.0/20" }, "api.github.com", 443, [PUBLIC], { allowed: false, reason: "deny-rule", rule: "140.82.112.0/20" }],
    ["*.domain matches a subdomain", { allow: "*.example.com" }, "a.b.example.com", 443, [PUBLIC], { allowed: true, reason: "allow-rule", rule: "*.example.com" }],
    ["*.domain does not match the apex", { allow: "*.example.com" }, "example.com", 443, [PUBLIC], { allowed: false, reason: "not-in-allow-list" }],
    ["*.domain does not match a name that only ends the same", { allow: "*.example.com" }, "badexample.com", 443, [PUBLIC], { allowed: false, reason: "not-in-allow-list" }],
    ["host:port matches its port", { allow: "api.github.com:443" }, "api.github.com", 443, [PUBLIC], { allowed: true, reason: "allow-rule", rule: "api.github.com:443" }],
    ["host:port does not match another port", { allow: "api.github.com:443" }, "api.github.com", 22, [PUBLIC], { allowed: false, reason: "not-in-allow-list" }],
    ["deny host:port leaves other ports", { deny: "api.github.com:22" }, "api.github.com", 443, [PUBLIC], { allowed: true, reason: "default" }],
    ["deny IP:port, the same IP on another port passes", { deny: `${PUBLIC}:22` }, "h.example", 443, [PUBLIC], { allowed: true, reason: "default" }],
    ["an allow list denies what is not on it", { allow: "api.github.com" }, "evil.example", 443, [PUBLIC], { allowed: false, reason: "not-in-allow-list", dialable: [] }],
    ["an allow list with addresses: an unlisted name on a listed address passes", { allow: `${PUBLIC}` }, "cdn.example", 443, [PUBLIC], { allowed: true, reason: "allow-rule", rule: PUBLIC }],
    ["an allow list with addresses: an unlisted address is refused", { allow: "140.82.0.0/16" }, "cdn.example", 443, ["8.8.8.8"], { allowed: false, reason: "not-in-allow-list", address: "8.8.8.8" }],
    ["the second of two address rules fits the port", { allow: `${PUBLIC}:22,140.82.0.0/16:443` }, "h.example", 443, [PUBLIC], { allowed: true, rule: "140.82.0.0/16:443" }],
  ])("%s", check);
});

describe("private-address guard", () => {
  test.each<Row>([
    ["on by default: a name resolving to loopback", {}, "internal.example", 80, ["127.0.0.1"], { allowed: false, reason: "private-address", range: "loopback", address: "127.0.0.1", dialable: [] }],
    ["cloud metadata is named", {}, "metadata.example", 80, ["169.254.169.254"], { allowed: false, range: "cloud-metadata" }],
    ["IPv4-mapped addresses are unmapped", {}, "x.example", 80, ["::ffff:10.0.0.1"], { allowed: false, range: "private" }],
    ["NAT64 is classified by the IPv4 it carries", {}, "x.example", 80, ["64:ff9b::a9fe:a9fe"], { allowed: false, range: "cloud-metadata" }],
    ["NAT64 of a public IPv4 is refused as NAT64", {}, "x.example", 80, ["64:ff9b::808:808"], { allowed: false, range: "nat64" }],
    ["a public IPv6 passes", {}, "x.example", 443, [PUBLIC6], { allowed: true, dialable: [PUBLIC6] }],
    ["an allowed name does not open a private address", { allow: "api.github.com" }, "api.github.com", 443, ["10.0.0.5"], { allowed: false, reason: "private-address", range: "private" }],
    ["an allowed IP opens exactly that address", { allow: "10.0.0.5" }, "db.internal", 5432, ["10.0.0.5"], { allowed: true, reason: "allow-rule", rule: "10.0.0.5", dialable: ["10.0.0.5"] }],
    ["... and not its neighbour", { allow: "10.0.0.5,db.internal" }, "db.internal", 5432, ["10.0.0.6"], { allowed: false, reason: "private-address", range: "private" }],
    ["an allowed CIDR opens its network", { allow: "10.1.0.0/16" }, "x.internal", 80, ["10.1.255.255"], { allowed: true, rule: "10.1.0.0/16" }],
    ["... and only its network", { allow: "10.1.0.0/16,x.internal" }, "x.internal", 80, ["10.2.0.1"], { allowed: false, range: "private" }],
    ["an allowed IPv4 does not open its NAT64 form", { allow: "127.0.0.1,x.example" }, "x.example", 80, ["64:ff9b::7f00:1"], { allowed: false, range: "loopback" }],
    ["an allowed IPv4 opens its mapped form (the same address)", { allow: "127.0.0.1" }, "x.example", 80, ["::ffff:127.0.0.1"], { allowed: true, rule: "127.0.0.1" }],
    ["allowPrivate opens every range", { allowPrivate: true }, "x.internal", 80, ["10.0.0.1", "169.254.169.254", "fd00::1"], { allowed: true, reason: "default", dialable: ["10.0.0.1", "169.254.169.254", "fd00::1"] }],
    ["allowPrivate does not override a deny rule", { allowPrivate: true, deny: "169.254.169.254" }, "x.internal", 80, ["169.254.169.254"], { allowed: false, reason: "deny-rule" }],
    ["a deny rule on an IPv4 also refuses the NAT64 form carrying it", { allowPrivate: true, deny: "169.254.169.254" }, "x", 80, ["64:ff9b::169.254.169.254"], { allowed: false, reason: "deny-rule", rule: "169.254.169.254" }],
    ["allowPrivate does not open what the allow list leaves out", { allowPrivate: true, allow: "a.internal" }, "b.internal", 80, ["10.0.0.1"], { allowed: false, reason: "not-in-allow-list" }],
  ])("%s", check);
});

describe("the IETF protocol assignments 2001::/23, AS112 and AMT", () => {
  const TEREDO_10_0_0_1 = "2001:0:4136:e378:8000:63bf:f5ff:fffe";
  test.each<Row>([
    ["PCP anycast 2001:1::1 is refused as an IETF protocol assignment", {}, "x.example", 443, ["2001:1::1"], { allowed: false, reason: "private-address", range: "ietf-protocol" }],
    ["Drone Remote ID 2001:30::/28 too", {}, "x.example", 443, ["2001:30::1"], { allowed: false, range: "ietf-protocol" }],
    ["an unassigned part of 2001::/23 too", {}, "x.example", 443, ["2001:1fe::1"], { allowed: false, range: "ietf-protocol" }],
    ["AMT 2001:3::/32 is named", {}, "x.example", 443, ["2001:3::1"], { allowed: false, range: "amt" }],
    ["AS112-v6 2001:4:112::/48 is named", {}, "x.example", 53, ["2001:4:112::1"], { allowed: false, range: "as112" }],
    ["AS112 direct delegation 2620:4f:8000::/48", {}, "x.example", 53, ["2620:4f:8000::1"], { allowed: false, range: "as112" }],
    ["AS112-v4 192.31.196.0/24", {}, "x.example", 53, ["192.31.196.1"], { allowed: false, range: "as112" }],
    ["AS112 direct delegation 192.175.48.0/24", {}, "x.example", 53, ["192.175.48.6"], { allowed: false, range: "as112" }],
    ["AMT 192.52.193.0/24", {}, "x.example", 443, ["192.52.193.1"], { allowed: false, range: "amt" }],
    ["Teredo inside 2001::/23 is still named by the IPv4 it carries", {}, "x.example", 443, [TEREDO_10_0_0_1], { allowed: false, range: "private" }],
    ["Teredo of a public IPv4 is refused as Teredo", {}, "x.example", 443, ["2001:0:4136:e378:8000:63bf:f7f7:f7f7"], { allowed: false, range: "teredo" }],
    ["a deny rule on an IPv4 refuses the Teredo form carrying it", { allowPrivate: true, deny: "10.0.0.1" }, "x.example", 443, [TEREDO_10_0_0_1], { allowed: false, reason: "deny-rule", rule: "10.0.0.1" }],
    ["an allowed IP in 2001::/23 opens exactly that address", { allow: "2001:1::1" }, "x.example", 443, ["2001:1::1"], { allowed: true, reason: "allow-rule", rule: "2001:1::1", dialable: ["2001:1::1"] }],
    ["... and not its neighbour", { allow: "2001:1::1,x.example" }, "x.example", 443, ["2001:1::2"], { allowed: false, reason: "private-address", range: "ietf-protocol" }],
    ["an allowed CIDR opens its AS112 network", { allow: "192.31.196.0/24" }, "x.example", 53, ["192.31.196.1"], { allowed: true, rule: "192.31.196.0/24" }],
    ["... and not the other AS112 network", { allow: "192.31.196.0/24,x.example" }, "x.example", 53, ["192.175.48.1"], { allowed: false, range: "as112" }],
    ["allowPrivate opens them all", { allowPrivate: true }, "x.example", 443, ["2001:1::1", "2001:30::1", "2001:3::1", "2620:4f:8000::1", "192.52.193.1"], { allowed: true, reason: "default", dialable: ["2001:1::1", "2001:30::1", "2001:3::1", "2620:4f:8000::1", "192.52.193.1"] }],
  ])("%s", check);
});

describe("enforceAllowList: the allow list holds even when empty (a role's)", () => {
  test.each<Row>([
    ["empty and enforced: a public name is refused", { enforceAllowList: true }, "api.github.com", 443, [PUBLIC], { allowed: false, reason: "not-in-allow-list", dialable: [] }],
    ["empty and enforced: a public IP is refused", { enforceAllowList: true }, PUBLIC, 443, [], { allowed: false, reason: "not-in-allow-list" }],
    ["empty and enforced: allowPrivate opens nothing", { enforceAllowList: true, allowPrivate: true }, "x.internal", 80, ["10.0.0.1"], { allowed: false, reason: "not-in-allow-list" }],
    ["empty, not enforced: today's default", { enforceAllowList: false }, "api.github.com", 443, [PUBLIC], { allowed: true, reason: "default" }],
    ["with entries, enforcement changes nothing", { enforceAllowList: true, allow: "api.github.com" }, "api.github.com", 443, [PUBLIC], { allowed: true, reason: "allow-rule" }],
    ["deny still comes first", { enforceAllowList: true, deny: "api.github.com" }, "api.github.com", 443, [PUBLIC], { allowed: false, reason: "deny-rule" }],
  ])("%s", check);

  test("screen() refuses an empty enforced list before any lookup; unenforced it leaves the name to the addresses", () => {
    expect(policy({ enforceAllowList: true }).screen("api.github.com", 443)).toMatchObject({ allowed: false, reason: "not-in-allow-list" });
    expect(policy({}).screen("api.github.com", 443)).toBeUndefined();
  });
});

describe("mixed resolver answers: only what passes is dialable", () => {
  test.each<Row>([
    ["one public, one private: the public one", {}, "x.example", 443, ["10.0.0.1", PUBLIC], { allowed: true, reason: "default", address: PUBLIC, dialable: [PUBLIC] }],
    ["public ones keep the resolver's order", {}, "x.example", 443, [PUBLIC6, "127.0.0.1", PUBLIC], { allowed: true, dialable: [PUBLIC6, PUBLIC] }],
    ["all private: denied with the first refusal's range", {}, "x.example", 443, ["192.168.1.1", "::1"], { allowed: false, reason: "private-address", range: "private", address: "192.168.1.1", dialable: [] }],
    ["one denied by rule, one private: the first refusal", { deny: PUBLIC }, "x.example", 443, [PUBLIC, "10.0.0.1"], { allowed: false, reason: "deny-rule", address: PUBLIC }],
    ["an answer that is no address is skipped", {}, "x.example", 443, ["not-an-ip", PUBLIC], { allowed: true, dialable: [PUBLIC] }],
    ["only answers that are no address: invalid-host", {}, "x.example", 443, ["0177.0.0.1"], { allowed: false, reason: "invalid-host", address: "0177.0.0.1" }],
    ["no answers: nothing to dial", {}, "x.example", 443, [], { allowed: false, reason: "invalid-host", dialable: [] }],
    ["the allow rule named is the one for the first dialable address", { allow: `x.example,${PUBLIC}` }, "x.example", 443, [PUBLIC6, PUBLIC], { allowed: true, rule: "x.example", address: PUBLIC6 }],
  ])("%s", check);
});

describe("numeric hosts: every spelling of 127.0.0.1 is read once, then guarded", () => {
  const LOOPBACK_SPELLINGS = ["127.0.0.1", "2130706433", "017700000001", "0x7f000001", "0177.0.0.1", "0x7f.0.0.1", "0x7f.1", "127.1", "127.0.1", "127.0.0.1.", "0177.0x0.1", "[::ffff:127.0.0.1]", "::ffff:7f00:1"];

  test.each(LOOPBACK_SPELLINGS)("%p is refused as loopback (resolver answers ignored)", (host) => {
    // A lying `addresses` list must not be what gets checked or dialed.
    const decision = policy({}).decide({ host, port: 80, addresses: [PUBLIC] });
    expect(decision).toMatchObject({ allowed: false, reason: "private-address", range: "loopback", dialable: [] });
  });

  test.each(LOOPBACK_SPELLINGS)("%p is dialed as its canonical address when 127.0.0.1 is allowed", (host) => {
    const decision = policy({ allow: "127.0.0.1" }).decide({ host, port: 80, addresses: [] });
    const canonical = host.includes(":") ? "::ffff:7f00:1" : "127.0.0.1";
    expect(decision).toMatchObject({ allowed: true, reason: "allow-rule", rule: "127.0.0.1", dialable: [canonical] });
  });

  test.each(["[::1]", "::1", "0", "0x0.0", "169.254.43518", "0xa9fea9fe", "[64:ff9b::7f00:1]"])("%p is refused", (host) => {
    expect(policy({}).decide({ host, port: 80, addresses: [] })).toMatchObject({ allowed: false, reason: "private-address" });
  });

  test.each(["256.0.0.1", "0x100000000", "1.2.3.4.5", "a.1", "127%2e0%2e0%2e1", "１２７.０.０.１", "", "[::1", "evil.com@127.0.0.1"])("%p is an invalid host, never resolved", (host) => {
    expect(policy({ allowPrivate: true }).decide({ host, port: 80, addresses: ["127.0.0.1"] })).toEqual({ allowed: false, reason: "invalid-host", dialable: [] });
  });

  test("a name rule never matches a numeric host", () => {
    const decision = policy({ allow: "localhost", allowPrivate: true }).decide({ host: "127.0.0.1", port: 80, addresses: [] });
    expect(decision).toMatchObject({ allowed: false, reason: "not-in-allow-list" });
  });
});

test("a policy with no options is the default guard", () => {
  const guard = createEgressPolicy();
  expect([guard.decide({ host: "a.example", port: 443, addresses: [PUBLIC] }).allowed, guard.decide({ host: "a.example", port: 443, addresses: ["10.0.0.1"] }).allowed]).toEqual([true, false]);
});
