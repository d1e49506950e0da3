/**
 * @module
 * What changed between two reads of the secrets, as the log lines operators know from Skipper:
 * `Added secret file: PATH`, `Updated secret file: PATH`, `Removed secret file: PATH` at INFO.
 * Problems are logged at ERROR when they start or change, not on every refresh. Only paths and
 * reasons appear, never a value.
 */
import type { SecretEntry } from "./read-file.ts";

export interface SecretChange {
  readonly level: "info" | "error";
  readonly message: string;
}

/** The log lines for going from `before` to `after`, ordered by path. */
export function describeChanges(before: ReadonlyMap<string, SecretEntry>, after: ReadonlyMap<string, SecretEntry>): SecretChange[] {
  const paths = [...new Set([...before.keys(), ...after.keys()])].sort();
  const changes: SecretChange[] = [];
  for (const path of paths) {
    const change = describeChange(path, before.get(path), after.get(path));
    if (change) changes.push(change);
  }
  return changes;
}

function describeChange(path: string, was: SecretEntry | undefined, now: SecretEntry | undefined): SecretChange | undefined {
  if (now === undefined) return was && { level: "info", message: `Removed secret file: ${path}` };
  if (!now.ok) {
    if (was && !was.ok && was.problem === now.problem && was.reason === now.reason) return undefined;
    const what = now.problem === "invalid" ? "Invalid secret file, value refused" : "Failed to read secret file";
    return { level: "error", message: `${what}: ${path}: ${now.reason}` };
  }
  // "Added" only when the path is new: a file that recovers from a problem was already known.
  if (was === undefined) return { level: "info", message: `Added secret file: ${path}` };
  if (was.ok && was.value === now.value) return undefined;
  return { level: "info", message: `Updated secret file: ${path}` };
}
