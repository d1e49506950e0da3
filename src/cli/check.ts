/**
 * @module
 * `sallyport check FILE...`: parses and builds each routes file as the proxy would, and prints
 * every problem as `file:line:col: message`. Exit 1 on any problem, so it fits CI and pre-commit.
 */
import { builtinRegistries } from "../app.ts";
import { EskipError, parse } from "../eskip/index.ts";
import { buildTable } from "../routing/build.ts";
import { errorCode, readRoutesFile } from "../routing/source.ts";

export interface Output {
  write(text: string): void;
}

const stderr: Output = { write: (t) => process.stderr.write(t) };

export async function runCheck(files: string[], out: Output = stderr): Promise<number> {
  let problems = 0;
  const registries = builtinRegistries();
  for (const file of files) {
    let text: string;
    try {
      text = await readRoutesFile(file);
    } catch (e) {
      out.write(`${file}: cannot read: ${errorCode(e)}\n`);
      problems++;
      continue;
    }
    try {
      const table = buildTable(parse(text), registries);
      for (const p of table.problems) {
        const at = p.loc ? `${p.loc.line}:${p.loc.column}` : "1:1";
        out.write(`${file}:${at}: route ${p.id}: ${p.reason}: ${p.message}\n`);
        problems++;
      }
    } catch (e) {
      if (!(e instanceof EskipError)) throw e;
      out.write(e.format(file) + "\n");
      problems++;
    }
  }
  return problems > 0 ? 1 : 0;
}
