/**
 * The live egress lists on real temp files with fake timers: flags and files combined, bad
 * lines fatal at start and keeping the previous list later, the empty allow file refused, the
 * policy swapped whole on a good change, and the roles file's policies rebuilt with the lists.
 */
import { describe, expect, test } from "bun:test";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { EgressLists, type EgressListsOptions } from "../../src/egress/lists.ts";
import type { EgressClient } from "../../src/egress/roles.ts";
import { parseEgressList } from "../../src/egress/rules.ts";
import { capturedLog, tempDir } from "../secrets/helpers.ts";
import { FakeClock } from "../support/clock.ts";

const POLL = 1_000;
const PUBLIC = "140.82.112.5";

const rules = (list: string) => parseEgressList(list).rules;

interface Setup {
  readonly allow?: string;
  readonly deny?: string;
  /** the files' texts; a file is configured when its text is given */
  readonly allowText?: string;
  readonly denyText?: string;
  readonly rolesText?: string;
}

/** A temp dir with the files written, and the options that name them. */
async function setup({ allow = "", deny = "", allowText, denyText, rolesText }: Setup) {
  const dir = await tempDir("sallyport-egress-lists-");
  const allowFile = join(dir.path, "allow.txt");
  const denyFile = join(dir.path, "deny.txt");
  const rolesFile = join(dir.path, "roles.txt");
  if (allowText !== undefined) await writeFile(allowFile, allowText);
  if (denyText !== undefined) await writeFile(denyFile, denyText);
  if (rolesText !== undefined) await writeFile(rolesFile, rolesText);
  const clock = new FakeClock();
  const logs = capturedLog();
  const options: EgressListsOptions = {
    allow: rules(allow),
    deny: rules(deny),
    allowFile: allowText === undefined ? undefined : allowFile,
    denyFile: denyText === undefined ? undefined : denyFile,
    rolesFile: rolesText === undefined ? undefined : rolesFile,
    allowPrivate: false,
    pollMs: POLL,
    clock,
    log: logs.log,
  };
  return { allowFile, denyFile, rolesFile, clock, logs, options, [Symbol.asyncDispose]: () => dir[Symbol.asyncDispose]() };
}

/**
 * Opened and started; `passes(host)` asks the current policy about a public address of `host`,
 * `passesAs(client, host)` the policy for that client.
 */
async function running(s: Setup) {
  const env = await setup(s);
  const lists = await EgressLists.open(env.options);
  lists.start();
  return {
    ...env,
    lists,
    passes: (host: string) => lists.policy.decide({ host, port: 443, addresses: [PUBLIC] }).allowed,
    passesAs: (client: EgressClient, host: string) => lists.policyFor(client).policy.decide({ host, port: 443, addresses: [PUBLIC] }).allowed,
    async [Symbol.asyncDispose]() {
      lists.stop();
      await env[Symbol.asyncDispose]();
    },
  };
}

describe("at start", () => {
  test("flags only: their policy, nothing to poll", async () => {
    await using l = await running({ allow: "a.example" });
    expect([l.passes("a.example"), l.passes("b.example")]).toEqual([true, false]);
    expect(l.clock.pending).toBe(0);
    expect(l.logs.take()).toEqual([]);
  });

  test("allowPrivate reaches the policy", async () => {
    for (const allowPrivate of [false, true]) {
      await using env = await setup({});
      const lists = await EgressLists.open({ ...env.options, allowPrivate });
      expect(lists.policy.decide({ host: "intranet.example", port: 443, addresses: ["10.0.0.1"] }).allowed).toBe(allowPrivate);
    }
  });

  test("the files' rules join the flags'; deny wins; each file's count is logged", async () => {
    await using l = await running({ allow: "a.example", allowText: "# team APIs\nb.example\n*.c.example  # all of c\n", deny: "x.c.example", denyText: "y.c.example\n" });
    expect(["a.example", "b.example", "z.c.example", "x.c.example", "y.c.example", "other.example"].map(l.passes)).toEqual([true, true, true, false, false, false]);
    expect(l.logs.take()).toEqual([`info egress allow list ${l.allowFile}: 2 entries`, `info egress deny list ${l.denyFile}: 1 entries`]);
  });

  test("bad lines in either file stop the start, every one named by file:line", async () => {
    await using env = await setup({ allowText: "ok.example\nbad host\n\n*x.example\n", denyText: "1.2.3.4/40\n" });
    const open = EgressLists.open(env.options);
    await expect(open).rejects.toThrow(
      `invalid egress list entries: ${env.allowFile}:2: "bad host": not a host name or an IP address (a number out of range, or a character a URL host cannot hold); ` +
        `${env.allowFile}:4: "*x.example": a wildcard is only allowed as a leading \`*.\`; ${env.denyFile}:1: "1.2.3.4/40": `,
    );
    expect(env.logs.take()).toEqual([]);
  });

  test("a file that cannot be read stops the start, naming it and why", async () => {
    await using env = await setup({ allowText: "ok.example\n" });
    await rm(env.allowFile);
    await expect(EgressLists.open(env.options)).rejects.toThrow(`egress allow list ${env.allowFile}: cannot read: ENOENT`);
  });

  test("an allow file with no entries is refused, unless the flags allow something", async () => {
    await using env = await setup({ allowText: "# nothing yet\n" });
    await expect(EgressLists.open(env.options)).rejects.toThrow(`${env.allowFile}: no entries: an empty allow list would allow every destination`);
    await using withFlags = await running({ allow: "a.example", allowText: "# nothing yet\n" });
    expect([withFlags.passes("a.example"), withFlags.passes("b.example")]).toEqual([true, false]);
    // An empty deny file is simply no extra denials.
    await using deny = await running({ denyText: "" });
    expect(deny.passes("a.example")).toBe(true);
  });
});

describe("on change", () => {
  test("a good change replaces the policy at the next poll and logs the new count", async () => {
    await using l = await running({ allowText: "a.example\n", denyText: "" });
    l.logs.take();
    const before = l.lists.policy;
    await writeFile(l.allowFile, "b.example\nc.example\n");
    await writeFile(l.denyFile, "c.example\n");
    await l.clock.advance(POLL - 1);
    expect(l.lists.policy).toBe(before);
    await l.clock.advance(1);
    expect(["a.example", "b.example", "c.example"].map(l.passes)).toEqual([false, true, false]);
    expect(l.logs.take()).toEqual([`info egress allow list ${l.allowFile}: 2 entries`, `info egress deny list ${l.denyFile}: 1 entries`]);
    // Nothing changed: no new policy, no log.
    const after = l.lists.policy;
    await l.clock.advance(3 * POLL);
    expect(l.lists.policy).toBe(after);
    expect(l.logs.take()).toEqual([]);
  });

  test("a change with a bad line keeps the previous list whole and logs each bad line", async () => {
    await using l = await running({ allowText: "a.example\n" });
    l.logs.take();
    await writeFile(l.allowFile, "b.example\nbad host\nc.example:0\n");
    await l.clock.advance(POLL);
    expect([l.passes("a.example"), l.passes("b.example")]).toEqual([true, false]);
    expect(l.logs.take()).toEqual([
      `warning egress allow list ${l.allowFile} has 2 invalid line(s); keeping its previous 1 entries`,
      `warning ${l.allowFile}:2: "bad host": not a host name or an IP address (a number out of range, or a character a URL host cannot hold)`,
      `warning ${l.allowFile}:3: "c.example:0": "0" is not a port (1–65535)`,
    ]);
    // Logged once: the same text is not news.
    await l.clock.advance(3 * POLL);
    expect(l.logs.take()).toEqual([]);
    await writeFile(l.allowFile, "b.example\n");
    await l.clock.advance(POLL);
    expect([l.passes("a.example"), l.passes("b.example")]).toEqual([false, true]);
  });

  test("a deny file with a bad line keeps its previous denials", async () => {
    await using l = await running({ denyText: "a.example\n" });
    await writeFile(l.denyFile, "b.example\n*.\n");
    await l.clock.advance(POLL);
    expect([l.passes("a.example"), l.passes("b.example")]).toEqual([false, true]);
  });

  test("an allow file emptied (as `>` does before writing) keeps the previous list", async () => {
    await using l = await running({ allowText: "a.example\n" });
    l.logs.take();
    await writeFile(l.allowFile, "");
    await l.clock.advance(POLL);
    expect([l.passes("a.example"), l.passes("b.example")]).toEqual([true, false]);
    expect(l.logs.take()).toEqual([
      `warning egress allow list ${l.allowFile} has 1 invalid line(s); keeping its previous 1 entries`,
      `warning ${l.allowFile}: no entries: an empty allow list would allow every destination`,
    ]);
  });

  test("a file gone keeps its rules; stop() ends polling", async () => {
    await using l = await running({ allowText: "a.example\n", denyText: "b.example\n" });
    await rm(l.allowFile);
    await l.clock.advance(POLL);
    expect([l.passes("a.example"), l.passes("c.example")]).toEqual([true, false]);
    expect(l.clock.pending).toBe(2);
    l.lists.stop();
    expect(l.clock.pending).toBe(0);
    await writeFile(l.denyFile, "a.example\n");
    await l.clock.advance(3 * POLL);
    expect(l.passes("a.example")).toBe(true);
  });
});

describe("the roles file", () => {
  const ROLES = "[billing]\nmatch user=alice\nallow api.stripe.com\n\n[ci]\nallow *\n\n[default]\nallow api.github.com\n";
  const ALICE: EgressClient = { user: "alice" };
  const CI: EgressClient = { identity: { subject: "CN=ci", commonName: "ci", sans: [] } };

  test("without one: the lists' policy for every client, no role, the same answer each call", async () => {
    await using l = await running({ allow: "a.example" });
    const choice = l.lists.policyFor(ALICE);
    expect(choice).toEqual({ policy: l.lists.policy, role: undefined });
    expect(l.lists.policyFor({})).toBe(choice);
  });

  test("at start: each client gets its role's policy, the lists' rules joined in; the roles are logged", async () => {
    await using l = await running({ rolesText: ROLES, allow: "a.example", denyText: "evil.example\n" });
    expect([l.lists.policyFor(ALICE).role, l.lists.policyFor(CI).role, l.lists.policyFor({}).role]).toEqual(["billing", "ci", "default"]);
    const hosts = ["api.stripe.com", "api.github.com", "a.example", "b.example", "evil.example"];
    expect(hosts.map((host) => l.passesAs(ALICE, host))).toEqual([true, false, true, false, false]);
    // Open: only the global list (a flag allow rule here), the deny file still applies.
    expect(hosts.map((host) => l.passesAs(CI, host))).toEqual([false, false, true, false, false]);
    expect(hosts.map((host) => l.passesAs({}, host))).toEqual([false, true, true, false, false]);
    // The lists' own policy is unchanged by roles.
    expect(hosts.map(l.passes)).toEqual([false, false, true, false, false]);
    expect(l.logs.take()).toEqual([`info egress deny list ${l.denyFile}: 1 entries`, `info egress roles ${l.rolesFile}: 3 roles (billing, ci, default)`]);
  });

  test("at start a bad roles file stops the start, with every error", async () => {
    await using env = await setup({ rolesText: "[billing]\nallow bad host\nmatch cn=\n" });
    await expect(EgressLists.open(env.options)).rejects.toThrow(
      `invalid egress list entries: ${env.rolesFile}:2: "bad host": not a host name or an IP address (a number out of range, or a character a URL host cannot hold); ` +
        `${env.rolesFile}:3: "cn=": a match is cn=VALUE, san=VALUE or user=VALUE; ` +
        `${env.rolesFile}: no [default] section: say what clients with no role may reach (an empty [default] reaches nothing)`,
    );
    expect(env.logs.take()).toEqual([]);
  });

  test("a good change is applied at the next poll: new roles, new policies", async () => {
    await using l = await running({ rolesText: ROLES });
    l.logs.take();
    const before = l.lists.policyFor(ALICE);
    await writeFile(l.rolesFile, "[payments]\nmatch user=alice\nallow api.stripe.com\nallow api.paypal.com\n[default]\n");
    await l.clock.advance(POLL - 1);
    expect(l.lists.policyFor(ALICE)).toBe(before);
    await l.clock.advance(1);
    expect(l.lists.policyFor(ALICE).role).toBe("payments");
    expect(["api.paypal.com", "api.github.com"].map((host) => l.passesAs(ALICE, host))).toEqual([true, false]);
    // ci is gone: the default role, now empty, reaches nothing.
    expect(l.lists.policyFor(CI).role).toBe("default");
    expect(["api.github.com", "b.example"].map((host) => l.passesAs(CI, host))).toEqual([false, false]);
    expect(l.logs.take()).toEqual([`info egress roles ${l.rolesFile}: 2 roles (payments, default)`]);
  });

  test("a change of a list rebuilds every role's policy", async () => {
    await using l = await running({ rolesText: ROLES, denyText: "" });
    expect(l.passesAs(ALICE, "api.stripe.com")).toBe(true);
    await writeFile(l.denyFile, "api.stripe.com\n");
    await l.clock.advance(POLL);
    expect(l.passesAs(ALICE, "api.stripe.com")).toBe(false);
    expect(l.lists.policyFor(ALICE).role).toBe("billing");
  });

  test("a bad change keeps the previous roles whole and warns with each error, once", async () => {
    await using l = await running({ rolesText: ROLES });
    l.logs.take();
    await writeFile(l.rolesFile, "[billing]\nallow *\nallow api.paypal.com\n[default]\nmatch user=bob\n");
    await l.clock.advance(POLL);
    expect(l.lists.policyFor(ALICE).role).toBe("billing");
    expect(["api.stripe.com", "api.paypal.com"].map((host) => l.passesAs(ALICE, host))).toEqual([true, false]);
    expect(l.logs.take()).toEqual([
      `warning egress roles ${l.rolesFile} has 2 invalid line(s); keeping its previous 3 roles`,
      `warning ${l.rolesFile}:3: role [billing] has both \`allow *\` and an allow list (line 2): keep one or the other`,
      `warning ${l.rolesFile}:5: [default] takes no match lines: it is the role of clients no other role picks`,
    ]);
    await l.clock.advance(3 * POLL);
    expect(l.logs.take()).toEqual([]);
  });
});
