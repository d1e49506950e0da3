/** The change log between two reads: Skipper's three INFO lines, problems at ERROR once. */
import { expect, test } from "bun:test";
import { describeChanges } from "../../src/secrets/changes.ts";
import type { SecretEntry } from "../../src/secrets/read-file.ts";

const value = (v: string): SecretEntry => ({ ok: true, value: v });
const invalid = (reason: string): SecretEntry => ({ ok: false, problem: "invalid", reason });
const unreadable = (reason: string): SecretEntry => ({ ok: false, problem: "unreadable", reason });
const map = (entries: Record<string, SecretEntry>) => new Map(Object.entries(entries));

test.each<{ name: string; before: Record<string, SecretEntry>; after: Record<string, SecretEntry>; lines: string[] }>([
  { name: "nothing changed", before: { "/s/a": value("1") }, after: { "/s/a": value("1") }, lines: [] },
  { name: "a new file", before: {}, after: { "/s/a": value("1") }, lines: ["info Added secret file: /s/a"] },
  { name: "a changed value", before: { "/s/a": value("1") }, after: { "/s/a": value("2") }, lines: ["info Updated secret file: /s/a"] },
  { name: "a file gone", before: { "/s/a": value("1") }, after: {}, lines: ["info Removed secret file: /s/a"] },
  { name: "a broken file gone", before: { "/s/a": invalid("empty") }, after: {}, lines: ["info Removed secret file: /s/a"] },
  {
    name: "a value turned invalid",
    before: { "/s/a": value("1") },
    after: { "/s/a": invalid("contains a control character (0x0d)") },
    lines: ["error Invalid secret file, value refused: /s/a: contains a control character (0x0d)"],
  },
  { name: "the same problem again is not repeated", before: { "/s/a": unreadable("EACCES") }, after: { "/s/a": unreadable("EACCES") }, lines: [] },
  { name: "a different problem is logged", before: { "/s/a": unreadable("EACCES") }, after: { "/s/a": unreadable("ELOOP") }, lines: ["error Failed to read secret file: /s/a: ELOOP"] },
  { name: "a new unreadable file", before: {}, after: { "/s/a": unreadable("ENOENT") }, lines: ["error Failed to read secret file: /s/a: ENOENT"] },
  { name: "a repaired file is updated, not added", before: { "/s/a": invalid("empty") }, after: { "/s/a": value("1") }, lines: ["info Updated secret file: /s/a"] },
  {
    name: "several at once, by path",
    before: { "/s/b": value("1"), "/s/c": value("1") },
    after: { "/s/a": value("1"), "/s/c": value("2") },
    lines: ["info Added secret file: /s/a", "info Removed secret file: /s/b", "info Updated secret file: /s/c"],
  },
])("$name", ({ before, after, lines }) => {
  expect(describeChanges(map(before), map(after)).map((c) => `${c.level} ${c.message}`)).toEqual(lines);
});

test("no line ever carries a value", () => {
  const changes = describeChanges(map({ "/s/a": value("SECRET-1"), "/s/b": value("SECRET-2") }), map({ "/s/a": value("SECRET-3"), "/s/c": value("SECRET-4") }));
  expect(changes).toHaveLength(3);
  expect(JSON.stringify(changes)).not.toContain("SECRET");
});
