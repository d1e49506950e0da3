/**
 * The live egress lists on real temp files with fake timers: flags and files combined, bad
 * lines fatal at start and keeping the previous list later, the empty allow file refused, and
 * the policy swapped whole on a good change.
 */
import { describe, expect, test } from "bun:test";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { EgressLists, type EgressListsOptions } from "../../src/egress/lists.ts";
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
}

/** A temp dir with the files written, and the options that name them. */
async function setup({ allow = "", deny = "", allowText, denyText }: Setup) {
  const dir = await tempDir("sallyport-egress-lists-");
  const allowFile = join(dir.path, "allow.txt");
  const denyFile = join(dir.path, "deny.txt");
  if (allowText !== undefined) await writeFile(allowFile, allowText);
  if (denyText !== undefined) await writeFile(denyFile, denyText);
  const clock = new FakeClock();
  const logs = capturedLog();
  const options: EgressListsOptions = {
    allow: rules(allow),
    deny: rules(deny),
    allowFile: allowText === undefined ? undefined : allowFile,
    denyFile: denyText === undefined ? undefined : denyFile,
    allowPrivate: false,
    pollMs: POLL,
    clock,
    log: logs.log,
  };
  return { allowFile, denyFile, clock, logs, options, [Symbol.asyncDispose]: () => dir[Symbol.asyncDispose]() };
}

/** Opened and started; `passes(host)` asks the current policy about a public address of `host`. */
async function running(s: Setup) {
  const env = await setup(s);
  const lists = await EgressLists.open(env.options);
  lists.start();
  return {
    ...env,
    lists,
    passes: (host: string) => lists.policy.decide({ host, port: 443, addresses: [PUBLIC] }).allowed,
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
