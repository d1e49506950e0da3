/**
 * @module
 * set/append/drop × Request/Response header filters: six specs from one shape.
 * Values are templates; a value whose placeholder resolves empty is not set (Skipper's rule), and
 * neither is one that expands to something no header can carry (CR, LF, a control character).
 * Names are checked when the route is built.
 */
import type { ArgReader } from "../util/args.ts";
import { readArgs } from "../util/args.ts";
import { isHeaderName, isHeaderValue } from "../util/http.ts";
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
      const header = headerName(a);
      const text = a.string(1, "value");
      // Text outside the placeholders is in every expansion: refuse now rather than never set it.
      if (!isHeaderValue(text)) throw a.error(1, "value", `is not a valid header value: ${JSON.stringify(text)}`);
      const value = compileTemplate(text);
      const hook = (ctx: FilterContext) => {
        const v = value.apply(ctx);
        // A placeholder may bring in what Headers would throw on (a path parameter with a CR, say).
        if (v === undefined || !isHeaderValue(v)) return;
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
      const header = headerName(a);
      return { [phase]: (ctx: FilterContext) => headersOf(ctx, phase)?.delete(header) };
    },
  };
}

function headerName(a: ArgReader): string {
  const name = a.string(0, "header name");
  if (!isHeaderName(name)) throw a.error(0, "header name", `is not a valid header name: ${JSON.stringify(name)}`);
  return name;
}

export const headerFilters: FilterSpec[] = [
  writeHeader("setRequestHeader", "request", "set"),
  writeHeader("appendRequestHeader", "request", "append"),
  dropHeader("dropRequestHeader", "request"),
  writeHeader("setResponseHeader", "response", "set"),
  writeHeader("appendResponseHeader", "response", "append"),
  dropHeader("dropResponseHeader", "response"),
];
