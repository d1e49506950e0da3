/** @module backendTimeout and the setDynamicBackend* filters: where and how long the backend call goes. */
import { readArgs } from "../util/args.ts";
import type { FilterContext, FilterSpec } from "./types.ts";

export const backendTimeout: FilterSpec = {
  name: "backendTimeout",
  create(args) {
    const a = readArgs("backendTimeout", args);
    a.count(1, 1);
    // Skipper takes a duration string only here; a bare number is refused.
    if (typeof args[0] === "number") throw a.error(0, "timeout", `must be a duration string like "10s", got the number ${args[0]}`);
    const ms = a.duration(0, "timeout");
    return {
      request(ctx) {
        ctx.backendTimeout = ms;
      },
    };
  },
};

function dynamic(name: string, label: string, set: (ctx: FilterContext, value: string) => void, check?: (v: string) => void): FilterSpec {
  return {
    name,
    create(args) {
      const a = readArgs(name, args);
      a.count(1, 1);
      const value = a.string(0, label);
      try {
        check?.(value);
      } catch (e) {
        throw a.error(0, label, (e as Error).message);
      }
      return { request: (ctx) => set(ctx, value) };
    },
  };
}

const parseBackendUrl = (value: string): URL => {
  const url = URL.parse(value);
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) throw new Error(`must be an http or https URL, got ${JSON.stringify(value)}`);
  return url;
};

export const dynamicBackendFilters: FilterSpec[] = [
  dynamic("setDynamicBackendUrl", "url", (ctx, v) => (ctx.dynamic.url = parseBackendUrl(v)), parseBackendUrl),
  dynamic("setDynamicBackendHost", "host", (ctx, v) => (ctx.dynamic.host = v)),
  dynamic("setDynamicBackendScheme", "scheme", (ctx, v) => (ctx.dynamic.scheme = v), (v) => {
    if (v !== "http" && v !== "https") throw new Error(`must be "http" or "https", got ${JSON.stringify(v)}`);
  }),
  dynamic("setDynamicBackendHostFromHeader", "header name", (ctx, header) => {
    // An empty or missing header leaves the target alone (Skipper's rule).
    const v = ctx.request.headers.get(header);
    if (v) ctx.dynamic.host = v;
  }),
];
