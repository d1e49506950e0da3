/** @module A filter context for unit tests: a request state, params, the state bag, and the served response. */
import type { Arg } from "../../src/eskip/ast.ts";
import { StateBag, type RequestState, type ResponseState } from "../../src/exchange/state.ts";
import { builtinFilterRegistry } from "../../src/filters/builtin.ts";
import type { Filter, FilterContext } from "../../src/filters/types.ts";
import { FakeSecrets } from "../support/fake-secrets.ts";

export class TestContext implements FilterContext {
  response: ResponseState | undefined = undefined;
  served: ResponseState | undefined = undefined;
  readonly state = new StateBag();

  constructor(
    readonly request: RequestState,
    readonly params: Readonly<Record<string, string>>,
  ) {}

  serve(response: ResponseState): void {
    this.served = response;
  }
}

export function makeContext(over: Partial<RequestState> = {}, params: Record<string, string> = {}): TestContext {
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
  return new TestContext(state, params);
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
export async function run(filter: Filter, ctx: TestContext, response?: { status: number; headers?: Record<string, string> }): Promise<TestContext> {
  await filter.request?.(ctx);
  if (response || ctx.served) {
    ctx.response = ctx.served ?? { status: response!.status, headers: new Headers(response!.headers), body: null };
    await filter.response?.(ctx);
  }
  return ctx;
}
