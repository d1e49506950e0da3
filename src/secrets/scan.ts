/**
 * @module
 * The registered `-credentials-paths` and one full read of them. Keys follow Skipper: a file
 * entry is keyed by its path exactly as given; a directory contributes its direct children, keyed
 * `join(dir, name)`. No recursion: subdirectories, and so Kubernetes' `..data` and
 * `..<timestamp>` directories, are skipped, while the `name -> ..data/name` symlinks are read.
 */
import { readdir, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { errorCode } from "../util/read-file.ts";
import { readSecretFile, type SecretEntry } from "./read-file.ts";

/** A registered path that cannot be used; thrown at startup, before anything listens. */
export class CredentialsPathError extends Error {
  override readonly name = "CredentialsPathError";
}

export interface SecretPath {
  /** as given on the command line */
  readonly path: string;
  readonly directory: boolean;
}

/**
 * Checks every path once. Skipper logs a missing path and carries on without it, so a typo
 * silently leaves every route on it without credentials; here it stops the start instead.
 */
export async function registerSecretPaths(paths: readonly string[]): Promise<SecretPath[]> {
  const registered: SecretPath[] = [];
  const problems: string[] = [];
  for (const path of paths) {
    try {
      registered.push({ path, directory: (await stat(path)).isDirectory() });
    } catch (e) {
      const code = errorCode(e);
      problems.push(code === "ENOENT" ? `${path} does not exist` : `${path} cannot be accessed (${code})`);
    }
  }
  if (problems.length > 0) throw new CredentialsPathError(`-credentials-paths: ${problems.join("; ")}`);
  return registered;
}

/**
 * The directories whose events can change a secret: a registered directory itself, and the
 * parent of a registered file, because editors and Kubernetes replace files by renaming in the
 * parent, which a watch on the old file would never see.
 */
export function directoriesToWatch(paths: readonly SecretPath[]): string[] {
  return [...new Set(paths.map((p) => (p.directory ? p.path : dirname(p.path))))];
}

/**
 * Reads every registered path now. Whether a path is a directory is asked again each time.
 * Rejects when the process runs out of file descriptors, rather than return a set with holes.
 */
export async function scanSecretPaths(paths: readonly SecretPath[]): Promise<Map<string, SecretEntry>> {
  const found = new Map<string, SecretEntry>();
  await Promise.all(paths.map((p) => scanPath(p.path, found)));
  return found;
}

async function scanPath(path: string, found: Map<string, SecretEntry>): Promise<void> {
  if (!(await isDirectory(path))) {
    const read = await readSecretFile(path);
    if (typeof read !== "string") found.set(path, unlessOutOfDescriptors(path, read));
    return;
  }
  let names: string[];
  try {
    names = await readdir(path);
  } catch (e) {
    const code = errorCode(e);
    if (OUT_OF_DESCRIPTORS.has(code)) throw new Error(`cannot list directory ${path}: ${code}`);
    // Recorded under the directory's own path, so the change log reports it like any other
    // unreadable secret (and only when it starts or changes).
    found.set(path, { ok: false, problem: "unreadable", reason: `cannot list directory: ${code}` });
    return;
  }
  const reads = await Promise.all(names.map(async (name) => [join(path, name), await readSecretFile(join(path, name))] as const));
  for (const [key, read] of reads) {
    if (typeof read !== "string") found.set(key, unlessOutOfDescriptors(key, read));
  }
}

/**
 * What a read fails with when the process (EMFILE) or the system (ENFILE) has no file descriptor
 * left: nothing about the file. A scan that meets one is abandoned, and the store keeps the values
 * it has (store.ts), instead of dropping secrets that are still there and answering 503 until a
 * later refresh, long after the descriptors are back.
 */
const OUT_OF_DESCRIPTORS = new Set(["EMFILE", "ENFILE"]);

/** `entry`, unless reading `key` failed for want of a file descriptor: then the scan stops. */
function unlessOutOfDescriptors(key: string, entry: SecretEntry): SecretEntry {
  if (!entry.ok && OUT_OF_DESCRIPTORS.has(entry.reason)) throw new Error(`cannot read ${key}: ${entry.reason}`);
  return entry;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    // Gone, dangling or looping: the file read that follows says which.
    return false;
  }
}
