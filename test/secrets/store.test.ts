/**
 * The secrets store on real temp directories with fake timers: registration, keys, the interval
 * tick, the change log, the atomic swap, Kubernetes volumes and the refusal log.
 */
import { describe, expect, test } from "bun:test";
import { mkdir, rename, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CredentialsPathError, SecretStore } from "../../src/secrets/index.ts";
import { writeK8sSecret } from "../support/k8s-secret.ts";
import { capturedLog, INTERVAL, openStore, tempDir } from "./helpers.ts";

describe("registration", () => {
  test("a path that does not exist stops the start, naming every such path", async () => {
    await using tmp = await tempDir();
    const missing = [join(tmp.path, "nope"), join(tmp.path, "gone/token")];
    const open = SecretStore.open({ paths: [tmp.path, ...missing], intervalMs: INTERVAL, log: capturedLog().log, watch: false });
    expect(open).rejects.toBeInstanceOf(CredentialsPathError);
    expect(open).rejects.toThrow(`-credentials-paths: ${missing[0]} does not exist; ${missing[1]} does not exist`);
  });

  test("no paths: nothing to refresh, no tick; an interval <= 0 is Skipper's 10m", async () => {
    using s = await openStore([], { intervalMs: 0 });
    expect(s.store.intervalMs).toBe(600_000);
    expect(s.timers.pending).toBe(0);
    expect(s.logs.take()).toEqual([]);
  });

  test("keys: a file as given, a directory's direct children joined; no recursion", async () => {
    await using tmp = await tempDir();
    await mkdir(join(tmp.path, "dir/sub"), { recursive: true });
    await writeFile(join(tmp.path, "dir/a"), "A\n");
    await writeFile(join(tmp.path, "dir/.hidden"), "H\n");
    await writeFile(join(tmp.path, "dir/sub/deep"), "D\n");
    await writeFile(join(tmp.path, "single"), "S\n");
    const asGiven = `${tmp.path}//single`;
    using s = await openStore([`${tmp.path}/dir/`, asGiven]);
    expect(s.logs.take()).toEqual([`info Added secret file: ${asGiven}`, `info Added secret file: ${tmp.path}/dir/.hidden`, `info Added secret file: ${tmp.path}/dir/a`]);
    expect([s.value(`${tmp.path}/dir/a`), s.value(asGiven), s.value(`${tmp.path}/single`), s.value(`${tmp.path}/dir/sub/deep`)]).toEqual(["A", "S", "missing", "missing"]);
  });
});

describe("the interval tick", () => {
  test("picks up changes one interval later, and logs each once", async () => {
    await using tmp = await tempDir();
    const token = join(tmp.path, "mytoken");
    await writeFile(token, "mytoken\n");
    using s = await openStore([tmp.path]);
    expect(s.logs.take()).toEqual([`info Added secret file: ${token}`]);

    await writeFile(token, "changedtoken\n");
    await s.timers.advance(INTERVAL - 1);
    expect(s.value(token)).toBe("mytoken");
    await s.timers.advance(1);
    expect(s.value(token)).toBe("changedtoken");
    expect(s.logs.take()).toEqual([`info Updated secret file: ${token}`]);

    await s.timers.advance(INTERVAL);
    expect(s.logs.take()).toEqual([]);

    const added = join(tmp.path, "added");
    await writeFile(added, "new\n");
    await rm(token);
    await s.timers.advance(INTERVAL);
    expect(s.logs.take()).toEqual([`info Added secret file: ${added}`, `info Removed secret file: ${token}`]);
    expect([s.value(added), s.value(token)]).toEqual(["new", "missing"]);
  });

  test("a registered file that disappears and comes back", async () => {
    await using tmp = await tempDir();
    const token = join(tmp.path, "token");
    await writeFile(token, "one\n");
    using s = await openStore([token]);
    await rm(token);
    await s.timers.advance(INTERVAL);
    expect(s.value(token)).toBe("missing");
    await writeFile(token, "two\n");
    await s.timers.advance(INTERVAL);
    expect(s.value(token)).toBe("two");
    expect(s.logs.take()).toEqual([`info Added secret file: ${token}`, `info Removed secret file: ${token}`, `info Added secret file: ${token}`]);
  });

  test("an invalid value is unavailable, logged at ERROR once, and recovers", async () => {
    await using tmp = await tempDir();
    const token = join(tmp.path, "token");
    await writeFile(token, "good\n");
    using s = await openStore([tmp.path]);
    s.logs.take();
    await writeFile(token, "bad\r\n");
    await s.timers.advance(INTERVAL * 3);
    expect(s.value(token)).toBe("invalid");
    expect(s.logs.take()).toEqual([`error Invalid secret file, value refused: ${token}: contains a control character (0x0d)`]);
    await writeFile(token, "fixed\n");
    await s.timers.advance(INTERVAL);
    expect(s.value(token)).toBe("fixed");
    expect(s.logs.take()).toEqual([`info Updated secret file: ${token}`]);
  });

  test("an unreadable file is unavailable and logged with its path", async () => {
    await using tmp = await tempDir();
    using s = await openStore([tmp.path]);
    await symlink("loop", join(tmp.path, "loop"));
    await s.timers.advance(INTERVAL);
    expect(s.value(join(tmp.path, "loop"))).toBe("unreadable");
    expect(s.logs.take()).toEqual([`error Failed to read secret file: ${join(tmp.path, "loop")}: ELOOP`]);
  });

  test("stop() ends the tick", async () => {
    await using tmp = await tempDir();
    const s = await openStore([tmp.path]);
    expect(s.timers.pending).toBe(1);
    s.store.stop();
    expect(s.timers.pending).toBe(0);
    expect(s.logs.take()).toEqual(["info Stop secrets background refresher"]);
  });
});

describe("one refresh swaps the whole map", () => {
  test("while files are read, lookups see the old set; after, the new one; never a mix", async () => {
    await using tmp = await tempDir();
    const names = Array.from({ length: 20 }, (_, i) => join(tmp.path, `t${i}`));
    for (const name of names) await writeFile(name, "old\n");
    using s = await openStore([tmp.path]);
    for (const name of names) await writeFile(name, "new\n");
    const seen = new Set<string>();
    let done = false;
    const refreshing = s.store.refresh().then(() => (done = true));
    while (!done) {
      seen.add(names.map(s.value).join(","));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await refreshing;
    seen.add(names.map(s.value).join(","));
    expect([...seen]).toEqual([names.map(() => "old").join(","), names.map(() => "new").join(",")]);
  });

  test("a refresh asked for during a refresh reads again afterwards (SIGHUP after a rotation)", async () => {
    await using tmp = await tempDir();
    const token = join(tmp.path, "token");
    await writeFile(token, "one\n");
    using s = await openStore([tmp.path]);
    const first = s.store.refresh();
    await writeFile(token, "two\n");
    await Promise.all([first, s.store.refresh()]);
    expect(s.value(token)).toBe("two");
  });
});

describe("Kubernetes secret volumes", () => {
  test("an atomic ..data swap updates the keys; ..data and ..<timestamp> never become secrets", async () => {
    await using tmp = await tempDir();
    await writeK8sSecret(tmp.path, { token: "v1\n", other: "o1\n" });
    using s = await openStore([tmp.path]);
    expect(s.logs.take()).toEqual([`info Added secret file: ${tmp.path}/other`, `info Added secret file: ${tmp.path}/token`]);

    await writeK8sSecret(tmp.path, { token: "v2\n", other: "o1\n", extra: "e1\n" });
    await s.timers.advance(INTERVAL);
    expect([s.value(`${tmp.path}/token`), s.value(`${tmp.path}/other`), s.value(`${tmp.path}/extra`)]).toEqual(["v2", "o1", "e1"]);
    expect(s.logs.take()).toEqual([`info Added secret file: ${tmp.path}/extra`, `info Updated secret file: ${tmp.path}/token`]);

    await writeK8sSecret(tmp.path, { token: "v2\n" });
    await s.timers.advance(INTERVAL);
    expect(s.logs.take()).toEqual([`info Removed secret file: ${tmp.path}/extra`, `info Removed secret file: ${tmp.path}/other`]);
  });
});

describe("file-system events", () => {
  test("a rename in a watched directory is picked up without waiting for the tick", async () => {
    await using tmp = await tempDir();
    const token = join(tmp.path, "token");
    await writeFile(token, "old\n");
    // Real timers for the short settle delay; the tick is an hour away, so only the event can do it.
    const logs = capturedLog();
    const store = await SecretStore.open({ paths: [tmp.path], intervalMs: 3_600_000, log: logs.log, settleMs: 10 });
    store.start();
    try {
      const updated = new Promise<void>((resolve) => {
        const check = setInterval(() => logs.lines.includes(`info Updated secret file: ${token}`) && (clearInterval(check), resolve()), 5);
      });
      await writeFile(join(tmp.path, ".token.tmp"), "new\n");
      await rename(join(tmp.path, ".token.tmp"), token);
      await updated;
      expect(store.lookup(token)).toEqual({ ok: true, value: "new" });
    } finally {
      store.stop();
    }
  });
});

describe("refusals are logged at most once per interval per secret", () => {
  test("with the hint for a missing secret", async () => {
    await using tmp = await tempDir();
    using s = await openStore([tmp.path]);
    const refuse = (name: string) => s.store.refused(name, "bearerinjector", "missing");
    refuse("/a");
    refuse("/a");
    refuse("/b");
    await s.timers.advance(INTERVAL - 1);
    refuse("/a");
    await s.timers.advance(1);
    refuse("/a");
    const hint = "Make sure the file exists in a path passed via the -credentials-paths flag.";
    const line = (name: string) => `error Secret "${name}" is missing: bearerinjector filter refused the request with 503. ${hint}`;
    expect(s.logs.take()).toEqual([line("/a"), line("/b"), line("/a")]);
  });
});
