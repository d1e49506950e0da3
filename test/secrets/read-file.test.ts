/** The secret file reader: Skipper's one-newline trim, and what sallyport refuses. */
import { afterAll, describe, expect, test } from "bun:test";
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAX_SECRET_BYTES, parseSecret, readSecretFile } from "../../src/secrets/read-file.ts";

const bytes = (s: string) => Buffer.from(s, "latin1");

describe("parseSecret", () => {
  test.each([
    { name: "one trailing newline is trimmed", input: "mytoken\n", value: "mytoken" },
    { name: "no newline: as is", input: "mytoken", value: "mytoken" },
    { name: "spaces are kept", input: " tok en \n", value: " tok en " },
    { name: "bytes above 0x7f pass through unchanged", input: "caf\xc3\xa9\n", value: "caf\xc3\xa9" },
  ])("$name", ({ input, value }) => {
    expect(parseSecret(bytes(input))).toEqual({ ok: true, value });
  });

  test.each([
    { name: "a second newline (only one is trimmed)", input: "mytoken\n\n", reason: "contains a control character (0x0a)" },
    { name: "CRLF: the CR stays and is refused", input: "mytoken\r\n", reason: "contains a control character (0x0d)" },
    { name: "a header smuggled after a newline", input: "tok\nX-Evil: 1\n", reason: "contains a control character (0x0a)" },
    { name: "a tab", input: "tok\ten\n", reason: "contains a control character (0x09)" },
    { name: "NUL", input: "tok\0\n", reason: "contains a control character (0x00)" },
    { name: "DEL", input: "tok\x7f", reason: "contains a control character (0x7f)" },
    { name: "an empty file", input: "", reason: "empty" },
    { name: "only a newline", input: "\n", reason: "empty" },
    { name: "too large", input: "x".repeat(MAX_SECRET_BYTES + 1), reason: `larger than ${MAX_SECRET_BYTES} bytes` },
  ])("refuses $name", ({ input, reason }) => {
    expect(parseSecret(bytes(input))).toEqual({ ok: false, problem: "invalid", reason });
  });

  test("the largest value allowed, with its newline", () => {
    expect(parseSecret(bytes("x".repeat(MAX_SECRET_BYTES) + "\n")).ok).toBe(true);
  });
});

describe("readSecretFile on real files", () => {
  let dir: string;
  const tmp = async () => (dir ??= await mkdtemp(join(tmpdir(), "sallyport-read-")));
  afterAll(() => dir && rm(dir, { recursive: true, force: true }));

  test("a regular file", async () => {
    const path = join(await tmp(), "token");
    await writeFile(path, "mytoken\n");
    expect(await readSecretFile(path)).toEqual({ ok: true, value: "mytoken" });
  });

  test("a symlink to a file is followed", async () => {
    const path = join(await tmp(), "link");
    await writeFile(join(dir, "target"), "linked\n");
    await symlink("target", path);
    expect(await readSecretFile(path)).toEqual({ ok: true, value: "linked" });
  });

  test("nothing there: gone, not an error", async () => {
    expect(await readSecretFile(join(await tmp(), "nothing"))).toBe("gone");
  });

  test("a directory is skipped", async () => {
    const path = join(await tmp(), "sub");
    await mkdir(path);
    expect(await readSecretFile(path)).toBe("directory");
  });

  test("a dangling symlink is unreadable", async () => {
    const path = join(await tmp(), "dangling");
    await symlink("no-such-target", path);
    expect(await readSecretFile(path)).toEqual({ ok: false, problem: "unreadable", reason: "ENOENT" });
  });

  test("a symlink loop is unreadable", async () => {
    const path = join(await tmp(), "loop");
    await symlink("loop", path);
    expect(await readSecretFile(path)).toEqual({ ok: false, problem: "unreadable", reason: "ELOOP" });
  });

  test("a FIFO is refused without blocking on it", async () => {
    const path = join(await tmp(), "fifo");
    const mk = Bun.spawn(["mkfifo", path]);
    expect(await mk.exited).toBe(0);
    expect(await readSecretFile(path)).toEqual({ ok: false, problem: "unreadable", reason: "not a regular file" });
  });

  test("a file without read permission is unreadable (where permissions apply)", async () => {
    const path = join(await tmp(), "locked");
    await writeFile(path, "locked\n");
    await chmod(path, 0o000);
    const readable = await readFile(path).then(
      () => true,
      () => false,
    );
    // As root, permissions do not stop a read; the loop and dangling cases above cover that path.
    expect(await readSecretFile(path)).toEqual(readable ? { ok: true, value: "locked" } : { ok: false, problem: "unreadable", reason: "EACCES" });
  });
});
