/**
 * The bench still works end to end: `bench/run.ts --smoke` (seconds: one round of a second, tiny
 * shapes, 1 MiB bodies) against the binary the tests use, writing to temp files. Every scenario
 * must be in the Markdown and the JSON, and the run must have no errors: no failed measurement,
 * transfer, reload or start-up, no contender that failed to start, nothing logged as an error.
 * Its numbers mean nothing and are not looked at. Skipped only when wrk or nginx cannot be
 * installed (the bench installs what is missing with apt-get, as it does on a fresh machine).
 */
import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureTools } from "../../bench/tools.ts";
import { BINARY, ensureBinary, ROOT } from "../support/binary.ts";

const SCENARIOS = ["routed", "forward", "features", "cluster", "streaming", "routes", "startup", "micro"];
/** The smoke run takes about 50 s on a 2-core machine; the bench cuts itself off at 5 min. */
const TIMEOUT_MS = 240_000;

const tools = await ensureTools();
const missing = ["wrk", "nginx"].filter((t) => !tools[t]);
if (missing.length) console.warn(`test/bench/smoke.test.ts skipped: ${missing.join(" and ")} could not be installed (apt-get install wrk nginx)`);

interface Row {
  name: string;
  skipped?: string;
  errors: number;
  median?: unknown;
  samples: { errorText: string[] }[];
}
interface Run {
  errors: number;
  scenarios: { id: string; title: string; failures?: string[]; tables: ({ kind: "series"; id: string; rows: Row[] } | { kind: "plain"; id: string; errors: number })[]; blocks?: unknown[] }[];
  goals: { goal: string; status: string }[];
}

test.skipIf(missing.length > 0)(
  "bench --smoke runs every scenario for every contender without errors",
  async () => {
    await ensureBinary();
    const dir = mkdtempSync(join(tmpdir(), "sallyport-bench-smoke-"));
    try {
      const md = join(dir, "results.md");
      const json = join(dir, "results.json");
      const p = Bun.spawn([process.execPath, "run", "bench/run.ts", "--smoke", "--bin", BINARY, "--out", md, "--json", json], {
        cwd: ROOT,
        stdout: "pipe",
        stderr: "pipe",
        timeout: TIMEOUT_MS - 10_000,
        killSignal: "SIGKILL",
      });
      const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
      const code = await p.exited;
      if (code !== 0) throw new Error(`bench --smoke exited ${code}:\n${out.slice(-4000)}\n${err.slice(-4000)}`);

      const runs = JSON.parse(readFileSync(json, "utf8")) as Run[];
      expect(runs).toHaveLength(1);
      const run = runs[0]!;
      expect(run.scenarios.map((s) => s.id)).toEqual(SCENARIOS);
      const problems: string[] = [];
      for (const s of run.scenarios) {
        for (const f of s.failures ?? []) problems.push(`${s.id}: ${f}`);
        if (!s.tables.length && !s.blocks?.length) problems.push(`${s.id}: no tables`);
        for (const t of s.tables) {
          if (t.kind === "plain") {
            if (t.errors) problems.push(`${t.id}: ${t.errors} errors`);
            continue;
          }
          for (const row of t.rows) {
            // only a contender whose server is not installed may be missing (haproxy, squid, tinyproxy)
            if (row.skipped) {
              if (!/not installed/.test(row.skipped)) problems.push(`${t.id}, ${row.name}: skipped: ${row.skipped}`);
              continue;
            }
            if (!row.median) problems.push(`${t.id}, ${row.name}: no result`);
            if (row.errors) problems.push(`${t.id}, ${row.name}: ${row.errors} errors: ${row.samples.flatMap((x) => x.errorText).join("; ")}`);
          }
        }
      }
      expect(problems).toEqual([]);
      expect(run.errors).toBe(0);
      expect(run.goals.length).toBeGreaterThan(0);

      const text = readFileSync(md, "utf8");
      for (const s of run.scenarios) expect(text).toContain(`### ${s.title}`);
      expect(text).toContain("### Goals (issue 11)");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  TIMEOUT_MS,
);
