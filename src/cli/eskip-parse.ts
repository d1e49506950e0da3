/**
 * @module
 * `sallyport eskip parse [--mode filters|predicates]`: eskip on stdin, the parsed AST as JSON on
 * stdout, in the shape of Skipper's conformance cases. For tooling and for checking the parser.
 */
import { EskipError, parse, parseFilters, parsePredicates } from "../eskip/index.ts";

const PARSERS = { routes: parse, filters: parseFilters, predicates: parsePredicates } as const;

export async function runEskipParse(mode: keyof typeof PARSERS): Promise<number> {
  const input = await new Response(Bun.stdin.stream()).text();
  try {
    process.stdout.write(JSON.stringify(PARSERS[mode](input), null, 2) + "\n");
    return 0;
  } catch (e) {
    if (!(e instanceof EskipError)) throw e;
    process.stderr.write(e.format() + "\n");
    return 1;
  }
}
