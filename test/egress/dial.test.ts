import { describe, expect, test } from "bun:test";
import { createDialPlan, type DialRequest } from "../../src/egress/dial.ts";
import type { NameResolver } from "../../src/egress/dns.ts";
import { createEgressPolicy, type EgressPolicyOptions } from "../../src/egress/policy.ts";
import { parseEgressList } from "../../src/egress/rules.ts";
import { ProxyError } from "../../src/exchange/errors.ts";

/** A resolver with fixed answers per name that remembers every name it was asked. */
function resolverOf(answers: Record<string, string[]>) {
  const asked: string[] = [];
  const resolver: NameResolver = {
    async resolve(name) {
      asked.push(name);
      const addresses = answers[name];
      if (!addresses) throw new ProxyError(502, "dns-failed", `Bad Gateway: ${name} does not resolve`);
      return { addresses, ttl: 1000, fromCache: false };
    },
  };
  return { resolver, asked };
}

const rules = (list: string) => parseEgressList(list).rules;

function plan(answers: Record<string, string[]>, policy: EgressPolicyOptions = {}) {
  const { resolver, asked } = resolverOf(answers);
  const lines: string[] = [];
  const dialPlan = createDialPlan({ policy: () => ({ policy: createEgressPolicy(policy), role: undefined }), resolver, log: { wants: () => true, write: (line) => void lines.push(line) } });
  return { dialPlan, asked, lines };
}

const request = (host: string, port = 443): DialRequest & { record: { egress: unknown } } => ({ host, port, client: "127.0.0.1", user: "alice", record: { egress: undefined } });

async function refusal(promise: Promise<unknown>): Promise<ProxyError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ProxyError) return err;
    throw err;
  }
  throw new Error("expected a refusal");
}

describe("the dial plan", () => {
  test("a name is resolved once and the checked address is the one to dial", async () => {
    const { dialPlan, asked, lines } = plan({ "api.example.com": ["127.0.0.2"] }, { allow: rules("127.0.0.2") });
    const req = request("API.example.com.");
    const dial = await dialPlan.dial(req);
    expect(dial.address).toBe("127.0.0.2");
    expect(asked).toEqual(["api.example.com"]);
    expect(req.record.egress).toEqual({ allowed: true, reason: "allow-rule", rule: "127.0.0.2", range: undefined });
    expect(lines).toEqual(['egress allow client=127.0.0.1 user="alice" host="API.example.com." port=443 addresses=127.0.0.2 reason=allow-rule rule="127.0.0.2" dial=127.0.0.2']);
    expect(dialPlan.decisions.get("allow-rule")).toBe(1);
  });

  test("a name that resolves to a private address is refused with 403 naming the range", async () => {
    const { dialPlan } = plan({ "internal.example": ["10.1.2.3"] });
    const err = await refusal(dialPlan.dial(request("internal.example")));
    expect(err.status).toBe(403);
    expect(err.reason).toBe("egress-denied");
    expect(err.message).toContain("10.1.2.3, a private address");
    expect(dialPlan.decisions.get("private-address")).toBe(1);
  });

  test("a denied name never reaches the resolver", async () => {
    const { dialPlan, asked } = plan({ "evil.example": ["127.0.0.2"] }, { deny: rules("*.example") });
    const req = request("api.evil.example");
    const err = await refusal(dialPlan.dial(req));
    expect(err.message).toContain('denied by the egress rule "*.example"');
    expect(asked).toEqual([]);
    expect(req.record.egress).toMatchObject({ allowed: false, reason: "deny-rule", rule: "*.example" });
  });

  test("a name off the allow list is refused before any lookup", async () => {
    const { dialPlan, asked } = plan({ "other.example": ["127.0.0.2"] }, { allow: rules("api.example") });
    expect((await refusal(dialPlan.dial(request("other.example")))).message).toContain("not on the egress allow list");
    expect(asked).toEqual([]);
  });

  test.each(["0177.1", "2130706433", "0x7f.1", "127.1", "[::1]", "::ffff:127.0.0.1", "127.0.0.1."])("numeric host %s is its own address, never resolved, and refused as loopback", async (host) => {
    const { dialPlan, asked } = plan({});
    const err = await refusal(dialPlan.dial(request(host)));
    expect(err.status).toBe(403);
    expect(err.message).toContain("loopback");
    expect(asked).toEqual([]);
  });

  test("a host no parser reads alike is a 400, not a lookup", async () => {
    const { dialPlan, asked } = plan({});
    const err = await refusal(dialPlan.dial(request("1.2.3.4.5")));
    expect(err.status).toBe(400);
    expect(asked).toEqual([]);
  });

  test("a DNS failure passes through as the resolver's error", async () => {
    const { dialPlan } = plan({});
    expect((await refusal(dialPlan.dial(request("nowhere.example")))).reason).toBe("dns-failed");
  });

  test("the policy is read once per dial: a reload between screen and decide cannot mix lists", async () => {
    const { resolver } = resolverOf({ "a.example": ["127.0.0.2"] });
    const policies = [createEgressPolicy({ allowPrivate: true }), createEgressPolicy({ deny: rules("127.0.0.2") })];
    let reads = 0;
    const dialPlan = createDialPlan({ policy: () => ({ policy: policies[Math.min(reads++, 1)]!, role: undefined }), resolver });
    expect((await dialPlan.dial(request("a.example"))).address).toBe("127.0.0.2");
    expect(reads).toBe(1);
  });

  test("only passing addresses are dialed: the first one that passes, not the first answer", async () => {
    const { dialPlan } = plan({ "mixed.example": ["10.0.0.1", "127.0.0.3", "127.0.0.2"] }, { allow: rules("127.0.0.2") });
    expect((await dialPlan.dial(request("mixed.example"))).address).toBe("127.0.0.2");
  });
});
