/**
 * @module
 * The Prometheus text exposition format (version 0.0.4), only what a scrape needs: escaping of
 * label values and help text, number spelling, and label sets written once per series rather
 * than on every scrape. Kept apart from the registry so the format rules live in one place.
 */

/** What `/metrics` answers with; Prometheus picks its parser by this header. */
export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** A label value as the format wants it: backslash, double quote and line feed escaped. */
export const escapeLabel = (value: string): string => value.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));

/** Help text escapes only backslash and line feed. */
export const escapeHelp = (help: string): string => help.replace(/[\\\n]/g, (c) => (c === "\n" ? "\\n" : "\\\\"));

/** `{a="x",b="y"}`, or nothing without labels; `extra` is appended as written (a histogram's `le`). */
export function labelSet(names: readonly string[], values: readonly string[], extra = ""): string {
  const pairs = names.map((name, i) => `${name}="${escapeLabel(values[i] ?? "")}"`);
  if (extra) pairs.push(extra);
  return pairs.length > 0 ? `{${pairs.join(",")}}` : "";
}

/** A sample value: Go's spelling of the special values, JavaScript's shortest round-trip otherwise. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/** The two comment lines that open a metric family. */
export const familyHeader = (name: string, help: string, type: string): string => `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
