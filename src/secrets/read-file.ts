/**
 * @module
 * Reads one secret file and decides whether its value may go into a request header.
 * Skipper's rule: exactly one trailing `\n` is trimmed, everything else is kept. Beyond Skipper,
 * a value that would corrupt or smuggle a header (CR, LF, other control characters), an empty
 * one and an oversized one are refused: the secret is then unavailable, never sent half-right.
 */
import { constants } from "node:fs";
import { lstat, open } from "node:fs/promises";
import { errorCode } from "../util/read-file.ts";
import type { SecretProblem } from "./types.ts";

/** Far beyond any token; the cap keeps a misplaced large file from being read every tick. */
export const MAX_SECRET_BYTES = 64 * 1024;

/** A secret as the store keeps it: the value, or the problem and a reason for the log (never the value). */
export type SecretEntry =
  | { readonly ok: true; readonly value: string }
  | { readonly ok: false; readonly problem: Exclude<SecretProblem, "missing">; readonly reason: string };

/** What reading a path found: a secret, or a path to skip (a directory, or nothing there any more). */
export type FileRead = SecretEntry | "directory" | "gone";

const LF = 0x0a;

/** Checks and decodes a file's bytes. */
export function parseSecret(bytes: Uint8Array): SecretEntry {
  const end = bytes.length > 0 && bytes[bytes.length - 1] === LF ? bytes.length - 1 : bytes.length;
  if (end === 0) return invalid("empty");
  if (end > MAX_SECRET_BYTES) return invalid(`larger than ${MAX_SECRET_BYTES} bytes`);
  for (let i = 0; i < end; i++) {
    const byte = bytes[i]!;
    if (byte < 0x20 || byte === 0x7f) return invalid(`contains a control character (0x${byte.toString(16).padStart(2, "0")})`);
  }
  // latin1 maps each byte to one code point below 256, which Headers sends back as that same
  // byte: the value reaches the upstream byte for byte, whatever its encoding.
  return { ok: true, value: Buffer.from(bytes.buffer, bytes.byteOffset, end).toString("latin1") };
}

/** Reads `path` as a secret. Never throws; errors become an `unreadable` entry naming the error code. */
export async function readSecretFile(path: string): Promise<FileRead> {
  let handle;
  try {
    // O_NONBLOCK: a FIFO put where a secret should be must not hang the refresh forever.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = errorCode(e);
    // ENOENT on a path that is still listed is a dangling symlink: unreadable, not gone.
    if (code === "ENOENT" && !(await linkExists(path))) return "gone";
    return unreadable(code);
  }
  try {
    const info = await handle.stat();
    if (info.isDirectory()) return "directory";
    if (!info.isFile()) return unreadable("not a regular file");
    if (info.size > MAX_SECRET_BYTES + 1) return invalid(`larger than ${MAX_SECRET_BYTES} bytes`);
    return parseSecret(await handle.readFile());
  } catch (e) {
    return unreadable(errorCode(e));
  } finally {
    await handle.close().catch(() => {});
  }
}

const invalid = (reason: string): SecretEntry => ({ ok: false, problem: "invalid", reason });
const unreadable = (reason: string): SecretEntry => ({ ok: false, problem: "unreadable", reason });

async function linkExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}
