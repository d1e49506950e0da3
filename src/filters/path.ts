/** @module setPath and modPath: rewrite the outgoing path. */
import { readArgs } from "../util/args.ts";
import { compileTemplate } from "./template.ts";
import type { FilterSpec } from "./types.ts";

export const setPath: FilterSpec = {
  name: "setPath",
  create(args) {
    const a = readArgs("setPath", args);
    a.count(1, 1);
    const path = compileTemplate(a.string(0, "path"));
    return {
      request(ctx) {
        ctx.request.path = path.expand(ctx);
      },
    };
  },
};

export const modPath: FilterSpec = {
  name: "modPath",
  create(args) {
    const a = readArgs("modPath", args);
    a.count(2, 2);
    // Go's ReplaceAllString replaces every match and expands $1 / ${name}, as JS does with "g".
    // The flags compileRegExp derived from a leading `(?i)` stay.
    const re = a.regexp(0, "expression");
    const pattern = new RegExp(re, re.flags.includes("g") ? re.flags : re.flags + "g");
    const replacement = goReplacement(a.string(1, "replacement"));
    return {
      request(ctx) {
        ctx.request.path = ctx.request.path.replace(pattern, replacement);
      },
    };
  },
};

/** Go writes `${1}` and `$name`; JS writes `$1` and `$<name>`. `$$` means "$" in both. */
function goReplacement(s: string): string {
  return s.replace(/\$(\$|\{(\w+)\}|(\w+))/g, (all, _x, braced: string | undefined, bare: string | undefined) => {
    if (all === "$$") return "$$";
    const ref = braced ?? bare!;
    return /^\d+$/.test(ref) ? `$${ref}` : `$<${ref}>`;
  });
}
