/**
 * The conformance cases, and how to run one. The source of truth is `shared/conformance/`
 * beside the project root (where CI has it); a clone on its own uses the copy in fixtures/,
 * and a test in conformance.test.ts fails when the two drift apart.
 */
import { parse, parseFilters, parsePredicates } from "../../src/eskip/index.ts";

export interface EskipCase {
  input: string;
  mode?: "filters" | "predicates";
  valid: boolean;
  routes?: unknown[];
  filters?: unknown[];
  predicates?: unknown[];
  error?: string;
  error_asserted_by_test?: boolean;
  source: string;
  note?: string;
}

export const sharedCases = Bun.file(new URL("../../../shared/conformance/eskip-cases.json", import.meta.url));
export const fixtureCases = Bun.file(new URL("./fixtures/eskip-cases.json", import.meta.url));
export const cases: EskipCase[] = await ((await sharedCases.exists()) ? sharedCases : fixtureCases).json();

/** Parses a case's input the way its mode says: a document, a filter chain or predicates. */
export function run(c: EskipCase): unknown[] {
  if (c.mode === "filters") return parseFilters(c.input);
  if (c.mode === "predicates") return parsePredicates(c.input);
  return parse(c.input);
}

export const expected = (c: EskipCase) => c.routes ?? c.filters ?? c.predicates;

/** A short, unique-enough test title. */
export const title = (c: EskipCase, i: number) =>
  `#${i} ${c.mode ?? "document"} ${JSON.stringify(c.input.length > 60 ? `${c.input.slice(0, 57)}...` : c.input)}`;

/** Drops non-enumerable `loc`s and the like, leaving the conformance JSON shape. */
export const plain = (x: unknown) => JSON.parse(JSON.stringify(x));
