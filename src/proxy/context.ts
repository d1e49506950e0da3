import type { BreakerSettings } from "../circuit/settings.ts";
import type { DynamicTarget, FilterContext, RequestState, ResponseState } from "../filters/types.ts";
import type { RetryPolicy } from "./retry.ts";

/** One per request and route pass; loopbacks start a new one over the same request state. */
export class Context implements FilterContext {
  response: ResponseState | undefined = undefined;
  served: ResponseState | undefined = undefined;
  backendTimeout: number | undefined = undefined;
  breaker: BreakerSettings | undefined = undefined;
  retry: RetryPolicy | undefined = undefined;
  readonly dynamic: DynamicTarget = {};

  constructor(
    readonly request: RequestState,
    readonly params: Readonly<Record<string, string>>,
  ) {}

  serve(response: ResponseState): void {
    this.served = response;
  }
}
