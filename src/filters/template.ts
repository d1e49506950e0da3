/**
 * @module
 * Skipper's `${...}` placeholders (eskip/template.go), compiled once per filter instance.
 * A placeholder is `request.header.X`, `request.query.q`, `request.cookie.c`, `request.method`,
 * `request.host`, `request.path`, `request.rawQuery`, `request.source`, `request.sourceFromLast`,
 * `request.clientIP`, `response.header.X`, or a path parameter name.
 */
import { forwardedFor } from "../util/forwarded.ts";
import { findCookie } from "../util/http.ts";
import type { FilterContext } from "./types.ts";

type Resolve = (ctx: FilterContext) => string;

export interface Template {
  /** the expanded text, or undefined when any placeholder resolved to "" (Skipper's rule for headers) */
  apply(ctx: FilterContext): string | undefined;
  /** the expanded text with unresolved placeholders left empty (Skipper's rule for setPath) */
  expand(ctx: FilterContext): string;
}

const PLACEHOLDER = /\$\{([^}]*)\}/g;

export function compileTemplate(text: string): Template {
  const parts: (string | Resolve)[] = [];
  let last = 0;
  for (const m of text.matchAll(PLACEHOLDER)) {
    if (m.index > last) parts.push(text.slice(last, m.index));
    parts.push(resolver(m[1]!));
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  if (parts.every((p) => typeof p === "string")) {
    return { apply: () => text, expand: () => text };
  }
  const run = (ctx: FilterContext, strict: boolean): string | undefined => {
    let out = "";
    for (const p of parts) {
      if (typeof p === "string") {
        out += p;
        continue;
      }
      const v = p(ctx);
      if (v === "" && strict) return undefined;
      out += v;
    }
    return out;
  };
  return { apply: (ctx) => run(ctx, true), expand: (ctx) => run(ctx, false)! };
}

function resolver(key: string): Resolve {
  const [scope, field, ...rest] = key.split(".");
  const name = rest.join(".");
  if (scope === "request") {
    switch (field) {
      case "method":
        return (ctx) => ctx.request.method;
      case "host":
        return (ctx) => ctx.request.host;
      case "path":
        return (ctx) => ctx.request.path;
      case "rawQuery":
        return (ctx) => ctx.request.rawQuery;
      case "clientIP":
        return (ctx) => ctx.request.peer;
      case "source":
        return (ctx) => forwardedFor(ctx.request.headers, "first") ?? ctx.request.peer;
      case "sourceFromLast":
        return (ctx) => forwardedFor(ctx.request.headers, "last") ?? ctx.request.peer;
      case "header":
        return (ctx) => ctx.request.headers.get(name) ?? "";
      case "query":
        return (ctx) => new URLSearchParams(ctx.request.rawQuery).get(name) ?? "";
      case "cookie":
        return (ctx) => {
          const header = ctx.request.headers.get("cookie");
          return header === null ? "" : (findCookie(header, name) ?? "");
        };
    }
  }
  if (scope === "response" && field === "header") {
    return (ctx) => ctx.response?.headers.get(name) ?? "";
  }
  // Anything else names a path parameter, as in Skipper; unknown ones resolve to "".
  return (ctx) => ctx.params[key] ?? "";
}
