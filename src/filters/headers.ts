/**
 * @module
 * set/append/drop × Request/Response header filters: six specs from one shape.
 * Values are templates; a value whose placeholder resolves empty is not set (Skipper's rule).
 */
import { readArgs } from "../util/args.ts";
import { compileTemplate } from "./template.ts";
import type { FilterContext, FilterSpec } from "./types.ts";

type Phase = "request" | "response";
type Op = "set" | "append";

const headersOf = (ctx: FilterContext, phase: Phase): Headers | undefined =>
  phase === "request" ? ctx.request.headers : ctx.response?.headers;

function writeHeader(name: string, phase: Phase, op: Op): FilterSpec {
  return {
    name,
    create(args) {
      const a = readArgs(name, args);
      a.count(2, 2);
      const header = a.string(0, "header name");
      const value = compileTemplate(a.string(1, "value"));
      const hook = (ctx: FilterContext) => {
        const v = value.apply(ctx);
        if (v === undefined) return;
        const headers = headersOf(ctx, phase);
        if (op === "set") headers?.set(header, v);
        else headers?.append(header, v);
      };
      return { [phase]: hook };
    },
  };
}

function dropHeader(name: string, phase: Phase): FilterSpec {
  return {
    name,
    create(args) {
      const a = readArgs(name, args);
      a.count(1, 1);
      const header = a.string(0, "header name");
      return { [phase]: (ctx: FilterContext) => headersOf(ctx, phase)?.delete(header) };
    },
  };
}

export const headerFilters: FilterSpec[] = [
  writeHeader("setRequestHeader", "request", "set"),
  writeHeader("appendRequestHeader", "request", "append"),
  dropHeader("dropRequestHeader", "request"),
  writeHeader("setResponseHeader", "response", "set"),
  writeHeader("appendResponseHeader", "response", "append"),
  dropHeader("dropResponseHeader", "response"),
];
