/**
 * @module
 * `sallyport explain` and `sallyport test-policy`: the command line's world read once
 * (../explain/load.ts), then one request explained, or a table of cases checked.
 */
import type { Config } from "../config/index.ts";
import { explain } from "../explain/explain.ts";
import { formatExplanation } from "../explain/format.ts";
import { loadWorld } from "../explain/load.ts";
import { mismatch, parseCases } from "../explain/cases.ts";
import { parseRequestArgs, RequestArgsError } from "../explain/request-args.ts";
import { readTextFile } from "../util/read-file.ts";
import type { Writer } from "./commands.ts";

export async function runExplain(config: Config, words: readonly string[], out: Writer, err: Writer): Promise<number> {
  let request;
  try {
    request = parseRequestArgs(words);
  } catch (e) {
    if (!(e instanceof RequestArgsError)) throw e;
    err.write(`explain: ${e.message}\n`);
    return 2;
  }
  out.write(formatExplanation(await explain(await loadWorld(config), request)));
  return 0;
}

export async function runTestPolicy(config: Config, file: string, out: Writer, err: Writer): Promise<number> {
  let text: string;
  try {
    text = await readTextFile(file);
  } catch (e) {
    err.write(`test-policy: ${file}: ${(e as Error).message}\n`);
    return 1;
  }
  const { cases, errors } = parseCases(text, file);
  for (const line of errors) err.write(`${line}\n`);
  if (errors.length > 0) return 2;
  const world = await loadWorld(config);
  let failed = 0;
  for (const c of cases) {
    const explanation = await explain(world, c.request);
    const why = mismatch(c, explanation);
    if (why === undefined) continue;
    failed++;
    out.write(`${file}:${c.line}: ${c.text}\n  ${why}\n${formatExplanation(explanation).trimEnd().replace(/^/gm, "    ")}\n`);
  }
  out.write(`${cases.length} case(s), ${failed} failed\n`);
  return failed > 0 ? 1 : 0;
}
