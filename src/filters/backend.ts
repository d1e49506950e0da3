/** @module backendTimeout and the setDynamicBackend* filters: where and how long the backend call goes. */
import { ArgError, readArgs } from "../util/args.ts";
import { BACKEND_TIMEOUT, DYNAMIC_TARGET, type DynamicTarget } from "../exchange/keys.ts";
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
        ctx.state.set(BACKEND_TIMEOUT, ms);
      },
    };
  },
};

/** A setDynamicBackend* spec: `prepare` checks and converts the argument once, when the route is built. */
function dynamic<T>(name: string, label: string, prepare: (value: string) => T, set: (ctx: FilterContext, value: T) => void): FilterSpec {
  return {
    name,
    create(args) {
      const a = readArgs(name, args);
      a.count(1, 1);
      let value: T;
      try {
        value = prepare(a.string(0, label));
      } catch (e) {
        if (e instanceof ArgError) throw e;
        throw a.error(0, label, (e as Error).message);
      }
      return { request: (ctx) => set(ctx, value) };
    },
  };
}

const asIs = (value: string) => value;

function parseBackendUrl(value: string): URL {
  const url = URL.parse(value);
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) throw new Error(`must be an http or https URL, got ${JSON.stringify(value)}`);
  return url;
}

function parseScheme(value: string): "http" | "https" {
  if (value !== "http" && value !== "https") throw new Error(`must be "http" or "https", got ${JSON.stringify(value)}`);
  return value;
}

/** The request's dynamic target, made on first use: most requests have none. */
function targetOf(ctx: FilterContext): DynamicTarget {
  let target = ctx.state.get(DYNAMIC_TARGET);
  if (!target) ctx.state.set(DYNAMIC_TARGET, (target = {}));
  return target;
}

export const dynamicBackendFilters: FilterSpec[] = [
  dynamic("setDynamicBackendUrl", "url", parseBackendUrl, (ctx, url) => (targetOf(ctx).url = url)),
  dynamic("setDynamicBackendHost", "host", asIs, (ctx, host) => (targetOf(ctx).host = host)),
  dynamic("setDynamicBackendScheme", "scheme", parseScheme, (ctx, scheme) => (targetOf(ctx).scheme = scheme)),
  dynamic("setDynamicBackendHostFromHeader", "header name", asIs, (ctx, header) => {
    // An empty or missing header leaves the target alone (Skipper's rule).
    const v = ctx.request.headers.get(header);
    if (v) targetOf(ctx).host = v;
  }),
];
