/** @module The proxy's own filter context for unit tests: a request state, params, the state bag, and the served response. */
import type { Arg } from "../../src/eskip/ast.ts";
import type { RequestState } from "../../src/exchange/state.ts";
import { builtinFilterRegistry } from "../../src/filters/builtin.ts";
import type { Filter } from "../../src/filters/types.ts";
import { Unsent } from "../../src/exchange/unsent.ts";
import { Pass } from "../../src/proxy/pipeline.ts";
import { FakeSecrets } from "../support/fake-secrets.ts";

export function makeContext(over: Partial<RequestState> = {}, params: Record<string, string> = {}): Pass {
  const path = over.path ?? "/";
  const state: RequestState = {
    method: "GET",
    path,
    rawQuery: "",
    headers: new Headers(),
    host: "example.org",
    peer: "127.0.0.1",
    rawPath: path,
    decodedPath: path,
    ...over,
  };
  return new Pass(state, params, new Unsent());
}

/** what the secret filters of {@link createFilter} read; tests set values on it */
export const secrets = new FakeSecrets();

const registry = builtinFilterRegistry({ secrets });

export function createFilter(name: string, ...args: Arg[]): Filter {
  const spec = registry.get(name);
  if (!spec) throw new Error(`no filter ${name}`);
  return spec.create(args);
}

/** Runs the request hook, then (with a response) the response hook, as the proxy would. */
export async function run(filter: Filter, ctx: Pass, response?: { status: number; headers?: Record<string, string> }): Promise<Pass> {
  await filter.request?.(ctx);
  if (response || ctx.served) {
    ctx.response = ctx.served ?? { status: response!.status, headers: new Headers(response!.headers), body: null };
    await filter.response?.(ctx);
  }
  return ctx;
}
