/**
 * @module
 * The forward port's proxy authentication from `-forward-auth-file`: htpasswd lines `user:hash`
 * (`#` comments and blank lines skipped), re-read on the clock (../util/watched-file.ts). Only
 * bcrypt (`htpasswd -B`: `$2y$`, `$2a$`, `$2b$`) and argon2 hashes are accepted; MD5 (`$apr1$`),
 * SHA-1 (`{SHA}`), crypt and plain text are refused as bad lines, since a weak hash leaked with
 * the file is a leaked password. A file is taken whole or not at all: a bad line is fatal at
 * start and later keeps the previous users, as is a file with no users (what a poll reads when
 * it catches the file between truncation and write).
 *
 * bcrypt is slow on purpose, so a successful check is cached by the SHA-256 of the header value
 * (never the header itself); the cache is emptied whenever the file's users change, so a removed
 * user or a changed password stops working at once. Failures are not cached. Nothing here logs a
 * header, a password or a hash.
 *
 * ```ts
 * const auth = await ForwardAuth.open({ file: "/etc/sallyport/htpasswd", pollMs: 3_000, log });
 * auth.start();
 * await auth.check(request.headers.get("proxy-authorization")); // "alice", or undefined → 407
 * ```
 */
import { createHash } from "node:crypto";
import type { ConsolaInstance } from "consola/core";
import type { Clock } from "../util/clock.ts";
import { WatchedFile } from "../util/watched-file.ts";

/** The challenge a 407 carries. */
export const PROXY_AUTHENTICATE = 'Basic realm="sallyport"';

/** Successful checks remembered; beyond this the least recently used goes. */
export const CHECK_CACHE_SIZE = 1_000;

export interface ForwardAuthOptions {
  /** `-forward-auth-file` */
  readonly file: string;
  readonly pollMs: number;
  readonly log: ConsolaInstance;
  /** the real clock by default; tests pass a fake one */
  readonly clock?: Clock;
}

/** Users and their hashes from a file's text, and one `file:line: why` per refused line. */
export interface ParsedUsers {
  readonly users: Map<string, string>;
  readonly errors: string[];
}

const BCRYPT = /^\$2[aby]\$(?:0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$/;
const ARGON2 = /^\$argon2(?:id|i|d)\$(?:v=\d+\$)?m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;
const DES_CRYPT = /^[./A-Za-z0-9]{13}$/;
const ACCEPTED = "only bcrypt (htpasswd -B) and argon2 hashes are accepted";

/** Why a hash is refused (never quoting it), or undefined when it is one we verify. */
function refuseHash(hash: string): string | undefined {
  if (/^\$2[aby]\$/.test(hash)) return BCRYPT.test(hash) ? undefined : "a malformed bcrypt hash";
  if (/^\$argon2(?:id|i|d)\$/.test(hash)) return ARGON2.test(hash) ? undefined : "a malformed argon2 hash";
  if (hash.startsWith("$apr1$")) return `an MD5 ($apr1$) hash, too weak: ${ACCEPTED}`;
  if (hash.startsWith("{SHA}")) return `a SHA-1 ({SHA}) hash, too weak: ${ACCEPTED}`;
  const scheme = /^\$([^$]*)\$/.exec(hash);
  if (scheme) return `an unsupported hash ($${scheme[1]}$): ${ACCEPTED}`;
  if (DES_CRYPT.test(hash)) return `a crypt() hash or plain text, too weak: ${ACCEPTED}`;
  return `not a bcrypt or argon2 hash (plain text?): ${ACCEPTED}`;
}

/** Parses htpasswd text; a user on two lines is refused on the second. */
export function parseHtpasswd(text: string, fileName: string): ParsedUsers {
  const users = new Map<string, string>();
  const lineOf = new Map<string, number>();
  const errors: string[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const refuse = (why: string) => void errors.push(`${fileName}:${index + 1}: ${why}`);
    const colon = line.indexOf(":");
    if (colon < 0) return refuse("not `user:hash`");
    const user = line.slice(0, colon);
    if (user === "") return refuse("no user name before the `:`");
    const first = lineOf.get(user);
    if (first !== undefined) return refuse(`user ${JSON.stringify(user)} is already on line ${first}`);
    const why = refuseHash(line.slice(colon + 1));
    if (why) return refuse(`user ${JSON.stringify(user)}: ${why}`);
    users.set(user, line.slice(colon + 1));
    lineOf.set(user, index + 1);
  });
  return { users, errors };
}

const BASIC = /^\s*basic\s+([A-Za-z0-9+/]+=*)\s*$/i;
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * `Basic base64(user:password)` (RFC 7617), the scheme in any case. The user is UTF-8; the
 * password stays bytes, verified as the client sent them. Undefined when anything is off:
 * another scheme, base64 that does not read back the same, no colon, a user that is not UTF-8.
 */
export function parseBasic(header: string): { user: string; password: Uint8Array } | undefined {
  const token = BASIC.exec(header)?.[1];
  if (token === undefined) return undefined;
  const bytes = Buffer.from(token, "base64");
  if (bytes.toString("base64").replace(/=+$/, "") !== token.replace(/=+$/, "")) return undefined;
  const colon = bytes.indexOf(0x3a);
  if (colon < 0) return undefined;
  try {
    return { user: UTF8.decode(bytes.subarray(0, colon)), password: bytes.subarray(colon + 1) };
  } catch {
    return undefined;
  }
}

/**
 * bcrypt reads only the first 72 bytes of a password, and htpasswd hashes just those; Bun would
 * pre-hash a longer one instead, so a long password would never match an htpasswd hash.
 */
const BCRYPT_MAX_BYTES = 72;

export class ForwardAuth {
  #users: ReadonlyMap<string, string>;
  readonly #file: WatchedFile;
  /** SHA-256 of a header value that checked → its user, least recently used first */
  readonly #cache = new Map<string, string>();
  /** checks under way, so a burst of connections with one header runs one verification */
  readonly #pending = new Map<string, Promise<string | undefined>>();
  /** counts the accepted changes: a check that spans one is done again */
  #generation = 0;

  private constructor(
    readonly options: ForwardAuthOptions,
    file: WatchedFile,
    users: ReadonlyMap<string, string>,
  ) {
    this.#file = file;
    this.#users = users;
  }

  /** Reads the file once; rejects when it cannot be read, has a bad line or has no users. */
  static async open(options: ForwardAuthOptions): Promise<ForwardAuth> {
    let auth: ForwardAuth | undefined;
    const { file: path, pollMs, clock, log } = options;
    const file = await WatchedFile.open({ path, pollMs, clock, log, label: "forward auth file", onChange: (text) => auth!.#changed(text) });
    const parsed = parse(file.text, path);
    if ("errors" in parsed) throw new Error(`invalid forward auth file: ${parsed.errors.join("; ")}`);
    auth = new ForwardAuth(options, file, parsed.users);
    log.info(`forward auth file ${path}: ${parsed.users.size} users`);
    return auth;
  }

  /** Re-reads the file every `pollMs`. */
  start(): void {
    this.#file.start();
  }

  /** Reads the file now (SIGHUP). */
  reread(): Promise<void> {
    return this.#file.reread();
  }

  stop(): void {
    this.#file.stop();
  }

  /** The user a `Proxy-Authorization` value proves, or undefined. Never rejects. */
  async check(header: string | null): Promise<string | undefined> {
    if (header === null) return undefined;
    const key = createHash("sha256").update(header).digest("base64");
    const cached = this.#cache.get(key);
    if (cached !== undefined) {
      this.#cache.delete(key);
      this.#cache.set(key, cached);
      return cached;
    }
    const generation = this.#generation;
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = this.#verify(header);
      this.#pending.set(key, pending);
    }
    const user = await pending;
    if (this.#pending.get(key) === pending) this.#pending.delete(key);
    // The users changed while the hash was verified: the answer may be about a removed user.
    if (generation !== this.#generation) return this.check(header);
    if (user !== undefined) this.#remember(key, user);
    return user;
  }

  async #verify(header: string): Promise<string | undefined> {
    const credentials = parseBasic(header);
    const hash = credentials && this.#users.get(credentials.user);
    if (!credentials || hash === undefined) return undefined;
    const password = hash.startsWith("$2") ? credentials.password.subarray(0, BCRYPT_MAX_BYTES) : credentials.password;
    try {
      return (await Bun.password.verify(password, hash)) ? credentials.user : undefined;
    } catch {
      return undefined;
    }
  }

  #remember(key: string, user: string): void {
    if (this.#cache.size >= CHECK_CACHE_SIZE) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(key, user);
  }

  #changed(text: string): void {
    const { file: path, log } = this.options;
    const parsed = parse(text, path);
    if ("errors" in parsed) {
      log.warn(`forward auth file ${path} has ${parsed.errors.length} invalid line(s); keeping its previous ${this.#users.size} users`);
      for (const error of parsed.errors) log.warn(error);
      return;
    }
    this.#users = parsed.users;
    this.#generation++;
    this.#cache.clear();
    this.#pending.clear();
    log.info(`forward auth file ${path}: ${parsed.users.size} users`);
  }
}

/** The file's users, or why it is refused: bad lines, or no users at all (every request would get 407). */
function parse(text: string, path: string): { users: Map<string, string> } | { errors: string[] } {
  const { users, errors } = parseHtpasswd(text, path);
  if (errors.length > 0) return { errors };
  if (users.size === 0) return { errors: [`${path}: no users: every request would be refused`] };
  return { users };
}
