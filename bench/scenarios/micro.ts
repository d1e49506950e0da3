/**
 * @module
 * The micro benchmarks, in-process against src/ of this checkout: route-matcher lookups
 * (bench/matcher.ts) and the cost of the metrics observer per exchange (bench/metrics.ts).
 * Shortened with `--quick` in the quick and smoke modes.
 */
import { join } from "node:path";
import type { Scenario } from "./types.ts";

const ROOT = join(import.meta.dir, "../..");
const SCRIPTS = [
  { file: "bench/matcher.ts", title: "route matcher (`bench/matcher.ts`)" },
  { file: "bench/metrics.ts", title: "metrics observer (`bench/metrics.ts`)" },
];

async function runScript(file: string, args: readonly string[]): Promise<{ ok: boolean; text: string }> {
  const p = Bun.spawn([process.execPath, "run", join(ROOT, file), ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe", timeout: 300_000, killSignal: "SIGKILL" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  return code === 0 ? { ok: true, text: out } : { ok: false, text: `${file} exited ${code}\n${out}${err}` };
}

export const micro: Scenario = {
  id: "micro",
  title: "Micro benchmarks",
  estimateSeconds: (mode) => (mode.microArgs.includes("--quick") ? 2 : 7),
  async run(ctx) {
    const blocks: { title: string; text: string }[] = [];
    const failures: string[] = [];
    for (const s of SCRIPTS) {
      ctx.progress(`[micro] ${s.file}`);
      const r = await runScript(s.file, ctx.mode.microArgs);
      blocks.push({ title: s.title, text: r.text });
      if (!r.ok) failures.push(`${s.file} failed (its output is below).`);
    }
    return {
      id: "micro",
      title: this.title,
      measures: `in-process, against src/ of this checkout${ctx.mode.microArgs.length ? ` (\`${ctx.mode.microArgs.join(" ")}\`: fewer iterations)` : ""}: ns per route-matcher lookup for 10 and 10,000 routes; ns per exchange of the metrics observer and ms per /metrics scrape.`,
      tables: [],
      targets: [],
      notes: [],
      failures,
      blocks,
    };
  },
};
