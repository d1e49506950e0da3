/**
 * @module
 * `sallyport check FILE...`: parses and builds the routes files as the proxy would load them,
 * together, and prints every problem as `file:line:col: message`, in file and line order: read and
 * syntax errors, routes that cannot be built, and ids defined more than once (within a file or
 * across files). Exit 1 on any problem, so it fits CI and pre-commit.
 */
import type { Loc, RouteDef } from "../eskip/ast.ts";
import { EskipError, parse } from "../eskip/index.ts";
import { buildTable, describeDuplicate, lastDefinitions } from "../routing/build.ts";
import { builtinRegistries } from "../routing/registries.ts";
import { errorCode, readTextFile } from "../util/read-file.ts";

export interface Output {
  write(text: string): void;
}

const stderr: Output = { write: (t) => process.stderr.write(t) };

/** One line of the report, with where it sorts. */
interface Report {
  readonly file: number;
  readonly line: number;
  readonly column: number;
  readonly text: string;
}

export async function runCheck(files: string[], out: Output = stderr): Promise<number> {
  const reports: Report[] = [];
  const fileOf = new Map<RouteDef, number>();
  const defs: RouteDef[] = [];
  for (const [index, file] of files.entries()) {
    const report = (text: string, line = 0, column = 0) => reports.push({ file: index, line, column, text });
    let text: string;
    try {
      text = await readTextFile(file);
    } catch (e) {
      report(`${file}: cannot read: ${errorCode(e)}`);
      continue;
    }
    try {
      for (const def of parse(text)) {
        fileOf.set(def, index);
        defs.push(def);
      }
    } catch (e) {
      if (!(e instanceof EskipError)) throw e;
      report(e.format(file), e.line, e.column);
    }
  }

  // A definition (or a call in it) without a location is reported at the top of its file.
  const placeOf = (def: RouteDef, loc: Loc = def.loc ?? { line: 1, column: 1 }) => ({ file: fileOf.get(def)!, line: loc.line, column: loc.column });
  const where = (place: ReturnType<typeof placeOf>) => `${files[place.file]}:${place.line}:${place.column}`;
  for (const duplicate of lastDefinitions(defs).duplicates) {
    reports.push({ ...placeOf(duplicate.def), text: describeDuplicate(duplicate, (def) => where(placeOf(def))) });
  }
  for (const p of buildTable(defs, builtinRegistries()).problems) {
    const place = placeOf(p.def, p.loc);
    reports.push({ ...place, text: `${where(place)}: route ${p.id}: ${p.reason}: ${p.message}` });
  }

  // Array.prototype.sort is stable: equal places keep the order found.
  reports.sort((a, b) => a.file - b.file || a.line - b.line || a.column - b.column);
  for (const { text } of reports) out.write(text + "\n");
  return reports.length > 0 ? 1 : 0;
}
