/**
 * @module
 * Server logs as a bug detector: wrk only counts statuses ≥ 400 and socket errors, while a proxy
 * can also log failures that never reach a client (e.g. when wrk hangs up at the end of a run).
 * A LogWatch remembers how long each log was, and later returns the error/warning lines added since.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

const PROBLEM = /\b(error|warn|warning|alert|crit|emerg|fatal|panic)\b/i;

export class LogWatch {
  readonly #sizes = new Map<string, number>();

  constructor(readonly dirs: readonly string[]) {
    for (const f of this.#files()) this.#sizes.set(f, statSync(f).size);
  }

  #files(): string[] {
    return this.dirs.flatMap((d) => readdirSync(d).filter((n) => n.endsWith(".log")).map((n) => join(d, n)));
  }

  /** Every line written since the watch was made, or since the last call when `advance` is set. */
  newLines(advance = false): string[] {
    return this.#files().flatMap((f) => {
      const from = this.#sizes.get(f) ?? 0;
      const fresh = readFileSync(f).subarray(from);
      // a line still being written is left for the next call
      const whole = advance ? fresh.subarray(0, fresh.lastIndexOf(10) + 1) : fresh;
      if (advance) this.#sizes.set(f, from + whole.length);
      return whole.toString("utf8").split("\n").filter((l) => l !== "");
    });
  }

  /** Error and warning lines written since the watch was made (sallyport's info lines excluded). */
  newProblemLines(): string[] {
    return this.newLines().filter((l) => PROBLEM.test(l) && !/level=info/.test(l));
  }
}

/** consola folds repeats into one line ending "(repeated N times)": that line stands for N + 1 events. */
function fold(line: string): { text: string; events: number } {
  const m = / \(repeated (\d+) times\)("?)$/.exec(line);
  return m ? { text: line.slice(0, m.index) + m[2], events: Number(m[1]) + 1 } : { text: line, events: 1 };
}

export function countEvents(lines: readonly string[]): number {
  return lines.reduce((n, l) => n + fold(l).events, 0);
}

/** "55× `msg`" per distinct message, timestamps and connection numbers removed so repeats group. */
export function summarize(lines: readonly string[], max = 3): string {
  const counts = new Map<string, number>();
  for (const line of lines) {
    const { text, events } = fold(line);
    const key = text
      .replace(/time="[^"]*" /, "")
      .replace(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d(\|)? ?/, "")
      .replace(/\d+#\d+: \*\d+ /, "")
      .slice(0, 240);
    counts.set(key, (counts.get(key) ?? 0) + events);
  }
  const parts = [...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n}× \`${k.replaceAll("`", "'")}\``);
  return parts.slice(0, max).join("; ") + (parts.length > max ? `; and ${parts.length - max} other kinds` : "");
}
