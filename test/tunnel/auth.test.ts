/**
 * Proxy authentication from an htpasswd file on a real temp directory with fake timers: which
 * hashes are accepted and why the others are refused, the Basic header read strictly, the
 * success cache emptied on every change, and a bad change keeping the previous users.
 */
import { afterEach, describe, expect, spyOn, test } from "bun:test";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CHECK_CACHE_SIZE, ForwardAuth, parseBasic, parseHtpasswd, PROXY_AUTHENTICATE } from "../../src/tunnel/auth.ts";
import { capturedLog, tempDir } from "../secrets/helpers.ts";
import { FakeClock } from "../support/clock.ts";

const POLL = 1_000;

const basic = (credentials: string) => `Basic ${Buffer.from(credentials).toString("base64")}`;
const bcrypt = (password: string, prefix = "$2b$") => Bun.password.hash(password, { algorithm: "bcrypt", cost: 4 }).then((h) => prefix + h.slice(4));
const argon2 = (password: string, algorithm: "argon2id" | "argon2i" | "argon2d" = "argon2id") => Bun.password.hash(password, { algorithm, memoryCost: 8, timeCost: 1 });

/** From glibc's libxcrypt (`perl -e 'print crypt("s3cret", q($2y$05$abcdefghijklmnopqrstuu))'`), as `htpasswd -B` writes them. */
const XCRYPT_2Y = "$2y$05$abcdefghijklmnopqrstuuLK7U1u6pVRmL7L1BBM2aS35PSZnDXlK";
/** libxcrypt's hash of "x" × 100, which bcrypt reads as "x" × 72 */
const XCRYPT_LONG = "$2y$04$abcdefghijklmnopqrstuubzadhGtS2zEF.gu0yd0opP6cVzb.e0i";

/** An htpasswd file with `text`, opened and polling. */
async function serving(text: string) {
  const dir = await tempDir("sallyport-forward-auth-");
  const file = join(dir.path, "htpasswd");
  await writeFile(file, text);
  const clock = new FakeClock();
  const logs = capturedLog();
  const auth = await ForwardAuth.open({ file, pollMs: POLL, clock, log: logs.log });
  auth.start();
  return {
    auth,
    file,
    clock,
    logs,
    /** writes the file and lets one poll read it */
    async rewrite(next: string) {
      await writeFile(file, next);
      await clock.advance(POLL);
    },
    async [Symbol.asyncDispose]() {
      auth.stop();
      await dir[Symbol.asyncDispose]();
    },
  };
}

afterEach(() => {
  (Bun.password.verify as unknown as { mockRestore?: () => void }).mockRestore?.();
});

describe("parseHtpasswd", () => {
  test("user:hash lines; comments, blank lines, CRLF and surrounding spaces skipped", async () => {
    const [a, b] = [await bcrypt("a"), await argon2("b")];
    const { users, errors } = parseHtpasswd(`# team\n\nalice:${a}\r\n  bob:${b}  \n   # indented comment\n`, "f");
    expect(errors).toEqual([]);
    expect([...users]).toEqual([
      ["alice", a],
      ["bob", b],
    ]);
  });

  const ACCEPTED = "only bcrypt (htpasswd -B) and argon2 hashes are accepted";
  test.each<[string, string, string]>([
    ["MD5 (htpasswd -m)", "u:$apr1$x4Rk1dTe$3MZ1i6PQz1QsxwHe4YaZc/", `user "u": an MD5 ($apr1$) hash, too weak: ${ACCEPTED}`],
    ["SHA-1 (htpasswd -s)", "u:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", `user "u": a SHA-1 ({SHA}) hash, too weak: ${ACCEPTED}`],
    ["crypt (htpasswd -d)", "u:rqXexS6ZhobKA", `user "u": a crypt() hash or plain text, too weak: ${ACCEPTED}`],
    ["plain text (htpasswd -p)", "u:hunter2", `user "u": not a bcrypt or argon2 hash (plain text?): ${ACCEPTED}`],
    ["MD5-crypt", "u:$1$saltsalt$qjXMvbEw8oaL.CzflDugX/", `user "u": an unsupported hash ($1$): ${ACCEPTED}`],
    ["SHA-512-crypt", "u:$6$salt$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.", `user "u": an unsupported hash ($6$): ${ACCEPTED}`],
    ["bcrypt's buggy $2x$", `u:$2x$${XCRYPT_2Y.slice(4)}`, `user "u": an unsupported hash ($2x$): ${ACCEPTED}`],
    ["a cut bcrypt hash", `u:${XCRYPT_2Y.slice(0, -1)}`, `user "u": a malformed bcrypt hash`],
    ["a bcrypt cost out of range", `u:$2y$03$${XCRYPT_2Y.slice(7)}`, `user "u": a malformed bcrypt hash`],
    ["a cut argon2 hash", "u:$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ", `user "u": a malformed argon2 hash`],
    ["an empty hash", "u:", `user "u": not a bcrypt or argon2 hash (plain text?): ${ACCEPTED}`],
    ["no colon", "just-a-name", "not `user:hash`"],
    ["no user", `:${XCRYPT_2Y}`, "no user name before the `:`"],
  ])("%s is refused", (_name, line, why) => {
    const { users, errors } = parseHtpasswd(`# first\n${line}\n`, "htpasswd");
    expect(errors).toEqual([`htpasswd:2: ${why}`]);
    expect(users.size).toBe(0);
    // The reason never quotes the hash.
    const hash = line.slice(line.indexOf(":") + 1);
    if (hash.length > 0) expect(errors[0]).not.toContain(hash);
  });

  test("a user on two lines is refused on the second", () => {
    const { users, errors } = parseHtpasswd(`u:${XCRYPT_2Y}\nu:${XCRYPT_LONG}\n`, "f");
    expect(errors).toEqual([`f:2: user "u" is already on line 1`]);
    expect(users.get("u")).toBe(XCRYPT_2Y);
  });
});

describe("parseBasic", () => {
  const password = (header: string) => {
    const read = parseBasic(header);
    return read && { user: read.user, password: Buffer.from(read.password).toString() };
  };

  test("user and password; the scheme in any case; the password may hold colons", () => {
    expect(password(basic("alice:s3cret"))).toEqual({ user: "alice", password: "s3cret" });
    expect(password(`bAsIc  ${Buffer.from("a:b:c").toString("base64")}`)).toEqual({ user: "a", password: "b:c" });
    expect(password(basic("ünï:"))).toEqual({ user: "ünï", password: "" });
    // Padding may be left off.
    expect(password("Basic YTpi")).toEqual({ user: "a", password: "b" });
    expect(password("Basic YTpiYw")).toEqual({ user: "a", password: "bc" });
  });

  test.each<[string, string]>([
    ["another scheme", `Bearer ${Buffer.from("a:b").toString("base64")}`],
    ["no credentials", "Basic"],
    ["no space after the scheme", `Basic${Buffer.from("a:b").toString("base64")}`],
    ["characters outside base64", "Basic YTpi!"],
    ["base64url", `Basic ${Buffer.from("a:\xfb\xff").toString("base64url")}`],
    ["base64 that does not read back the same", "Basic YTpiZ"],
    ["two tokens", "Basic YTpi YTpi"],
    ["no colon", basic("alice")],
    ["a user that is not UTF-8", `Basic ${Buffer.from([0xff, 0x3a, 0x61]).toString("base64")}`],
  ])("%s → undefined", (_name, header) => {
    expect(parseBasic(header)).toBeUndefined();
  });
});

describe("ForwardAuth", () => {
  test("the challenge names the realm", () => {
    expect(PROXY_AUTHENTICATE).toBe('Basic realm="sallyport"');
  });

  test("right and wrong passwords, unknown users, missing and malformed headers", async () => {
    await using s = await serving(`alice:${await bcrypt("s3cret")}\nbob:${await argon2("hunter2")}\n`);
    expect(s.logs.take()).toEqual([`info forward auth file ${s.file}: 2 users`]);
    expect(await s.auth.check(basic("alice:s3cret"))).toBe("alice");
    expect(await s.auth.check(basic("bob:hunter2"))).toBe("bob");
    for (const header of [null, "", basic("alice:S3cret"), basic("alice:"), basic("bob:s3cret"), basic("carol:s3cret"), basic("alice"), "Basic !!!", "Digest username=alice", basic(":s3cret")]) {
      expect(await s.auth.check(header)).toBeUndefined();
    }
  });

  test("a verification that fails is a refusal, never an exception", async () => {
    await using s = await serving(`alice:${XCRYPT_2Y}\n`);
    spyOn(Bun.password, "verify").mockImplementation(() => Promise.reject(new Error("InvalidEncoding")));
    expect(await s.auth.check(basic("alice:s3cret"))).toBeUndefined();
  });

  test.each<[string, () => Promise<string>]>([
    ["bcrypt $2a$", () => bcrypt("pw", "$2a$")],
    ["bcrypt $2b$", () => bcrypt("pw", "$2b$")],
    ["bcrypt $2y$", () => bcrypt("pw", "$2y$")],
    ["argon2id", () => argon2("pw", "argon2id")],
    ["argon2i", () => argon2("pw", "argon2i")],
    ["argon2d", () => argon2("pw", "argon2d")],
  ])("%s verifies", async (_name, hash) => {
    await using s = await serving(`u:${await hash()}\n`);
    expect(await s.auth.check(basic("u:pw"))).toBe("u");
    expect(await s.auth.check(basic("u:pW"))).toBeUndefined();
  });

  test("a $2y$ hash made by another bcrypt (as htpasswd -B writes them) verifies", async () => {
    await using s = await serving(`u:${XCRYPT_2Y}\n`);
    expect(await s.auth.check(basic("u:s3cret"))).toBe("u");
    expect(await s.auth.check(basic("u:s3creT"))).toBeUndefined();
  });

  test("bcrypt reads the first 72 bytes of a password, as htpasswd hashed them", async () => {
    await using s = await serving(`u:${XCRYPT_LONG}\n`);
    expect(await s.auth.check(basic(`u:${"x".repeat(100)}`))).toBe("u");
    expect(await s.auth.check(basic(`u:${"x".repeat(72)}`))).toBe("u");
    expect(await s.auth.check(basic(`u:${"x".repeat(71)}`))).toBeUndefined();
  });

  describe("at start", () => {
    test("every bad line is named in the error, the hashes never", async () => {
      await using dir = await tempDir("sallyport-forward-auth-");
      const file = join(dir.path, "htpasswd");
      await writeFile(file, `ok:${XCRYPT_2Y}\nmd5:$apr1$x4Rk1dTe$3MZ1i6PQz1QsxwHe4YaZc/\n# fine\nplain:hunter2\n`);
      const open = ForwardAuth.open({ file, pollMs: POLL, log: capturedLog().log });
      const error = (await open.catch((e: Error) => e)) as Error;
      expect(error.message).toBe(
        `invalid forward auth file: ${file}:2: user "md5": an MD5 ($apr1$) hash, too weak: only bcrypt (htpasswd -B) and argon2 hashes are accepted; ` +
          `${file}:4: user "plain": not a bcrypt or argon2 hash (plain text?): only bcrypt (htpasswd -B) and argon2 hashes are accepted`,
      );
      expect(error.message).not.toContain("hunter2");
    });

    test("a file that cannot be read, or has no users, stops the start", async () => {
      await using dir = await tempDir("sallyport-forward-auth-");
      const file = join(dir.path, "htpasswd");
      await expect(ForwardAuth.open({ file, pollMs: POLL, log: capturedLog().log })).rejects.toThrow(`forward auth file ${file}: cannot read: ENOENT`);
      await writeFile(file, "# nobody yet\n");
      await expect(ForwardAuth.open({ file, pollMs: POLL, log: capturedLog().log })).rejects.toThrow(`${file}: no users: every request would be refused`);
    });
  });

  describe("the success cache", () => {
    test("a header that checked is not verified again; a failure is", async () => {
      await using s = await serving(`alice:${await bcrypt("s3cret")}\n`);
      const verify = spyOn(Bun.password, "verify");
      for (let i = 0; i < 3; i++) expect(await s.auth.check(basic("alice:s3cret"))).toBe("alice");
      expect(verify).toHaveBeenCalledTimes(1);
      for (let i = 0; i < 2; i++) expect(await s.auth.check(basic("alice:wrong"))).toBeUndefined();
      expect(verify).toHaveBeenCalledTimes(3);
    });

    test("concurrent checks of one header share one verification", async () => {
      await using s = await serving(`alice:${await bcrypt("s3cret")}\n`);
      const verify = spyOn(Bun.password, "verify");
      const users = await Promise.all(Array.from({ length: 5 }, () => s.auth.check(basic("alice:s3cret"))));
      expect(users).toEqual(Array(5).fill("alice"));
      expect(verify).toHaveBeenCalledTimes(1);
    });

    test("a changed password or a removed user stops working at the re-read", async () => {
      await using s = await serving(`alice:${await bcrypt("old")}\nbob:${await bcrypt("b")}\n`);
      expect(await s.auth.check(basic("alice:old"))).toBe("alice");
      expect(await s.auth.check(basic("bob:b"))).toBe("bob");
      s.logs.take();
      await s.rewrite(`alice:${await bcrypt("new")}\n`);
      expect(s.logs.take()).toEqual([`info forward auth file ${s.file}: 1 users`]);
      expect(await s.auth.check(basic("alice:old"))).toBeUndefined();
      expect(await s.auth.check(basic("bob:b"))).toBeUndefined();
      expect(await s.auth.check(basic("alice:new"))).toBe("alice");
    });

    test("a check under way when the users change is answered by the new users", async () => {
      await using s = await serving(`alice:${await bcrypt("s3cret")}\n`);
      const verified = Promise.withResolvers<boolean>();
      spyOn(Bun.password, "verify").mockImplementation(() => verified.promise);
      const checking = s.auth.check(basic("alice:s3cret"));
      await s.rewrite(`bob:${await bcrypt("b")}\n`);
      verified.resolve(true);
      expect(await checking).toBeUndefined();
    });

    test(`holds at most ${CHECK_CACHE_SIZE} headers, the least recently used going first`, async () => {
      await using s = await serving(`alice:${await bcrypt("s3cret")}\n`);
      const verify = spyOn(Bun.password, "verify").mockImplementation(async () => true);
      for (let i = 0; i < CHECK_CACHE_SIZE; i++) await s.auth.check(basic(`alice:${i}`));
      await s.auth.check(basic("alice:0")); // used again: now the most recent
      await s.auth.check(basic(`alice:${CHECK_CACHE_SIZE}`)); // pushes out alice:1
      verify.mockClear();
      await s.auth.check(basic("alice:0"));
      await s.auth.check(basic(`alice:${CHECK_CACHE_SIZE}`));
      expect(verify).toHaveBeenCalledTimes(0);
      await s.auth.check(basic("alice:1"));
      expect(verify).toHaveBeenCalledTimes(1);
    });
  });

  describe("a bad change", () => {
    test("keeps the previous users and logs each bad line, never a hash", async () => {
      await using s = await serving(`alice:${XCRYPT_2Y}\n`);
      expect(await s.auth.check(basic("alice:s3cret"))).toBe("alice");
      s.logs.take();
      const md5 = "$apr1$x4Rk1dTe$3MZ1i6PQz1QsxwHe4YaZc/";
      await s.rewrite(`bob:${await bcrypt("b")}\nalice:${md5}\nnocolon\n`);
      const lines = s.logs.take();
      expect(lines).toEqual([
        `warning forward auth file ${s.file} has 2 invalid line(s); keeping its previous 1 users`,
        `warning ${s.file}:2: user "alice": an MD5 ($apr1$) hash, too weak: only bcrypt (htpasswd -B) and argon2 hashes are accepted`,
        `warning ${s.file}:3: not \`user:hash\``,
      ]);
      expect(lines.join("\n")).not.toContain(md5);
      expect(await s.auth.check(basic("alice:s3cret"))).toBe("alice");
      expect(await s.auth.check(basic("bob:b"))).toBeUndefined();
    });

    test("an emptied or unreadable file keeps the previous users", async () => {
      await using s = await serving(`alice:${XCRYPT_2Y}\n`);
      s.logs.take();
      await s.rewrite("");
      expect(s.logs.take()).toEqual([`warning forward auth file ${s.file} has 1 invalid line(s); keeping its previous 1 users`, `warning ${s.file}: no users: every request would be refused`]);
      await rm(s.file);
      await s.clock.advance(POLL);
      expect(await s.auth.check(basic("alice:s3cret"))).toBe("alice");
    });
  });
});
