/**
 * @module
 * Skipper's eskip route language: parse, check and print.
 */
export type { Arg, Backend, Call, Loc, RegExpArg, RouteDef } from "./ast.ts";
export { isRegExpArg } from "./ast.ts";
export { EskipError, type EskipErrorKind } from "./errors.ts";
export { parse, parseFilters, parsePredicates, parseSteps } from "./parser.ts";
export {
  print,
  printArg,
  printBackend,
  printCall,
  printFilters,
  printNumber,
  printPredicates,
  printRegExp,
  printRoute,
  printString,
  type PrintOptions,
} from "./print.ts";
