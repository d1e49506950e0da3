/**
 * @module
 * Filters that put a secret into a request header, after Skipper's `filters/auth`:
 *
 * ```
 * bearerinjector("/tmp/secrets/mytoken")                       // Authorization: Bearer <value>
 * setRequestHeaderFromSecret("X-Api-Key", "/run/secrets/key")  // X-Api-Key: <value>
 * setRequestHeaderFromSecret("Cookie", "/run/secrets/sid", "sid=", "; Secure")
 * ```
 *
 * The name is the secret's key, its file path (see src/secrets). It is looked up on every
 * request, so a rotated file counts from the next request on. Unlike Skipper, which forwards the
 * request without the header, an unavailable secret fails closed: 503 `secret-unavailable`, and
 * the request never reaches the backend.
 */
import type { ArgReader } from "../util/args.ts";
import { readArgs } from "../util/args.ts";
import { errorState } from "../exchange/errors.ts";
import type { SecretsReader } from "../secrets/index.ts";
import { isHeaderName, isHeaderValue } from "../util/http.ts";
import type { Filter, FilterContext, FilterSpec } from "./types.ts";

export function secretFilters(secrets: SecretsReader): FilterSpec[] {
  return [
    {
      name: "bearerinjector",
      create(args) {
        const a = readArgs("bearerinjector", args).count(1);
        return injectSecret(secrets, "bearerinjector", "Authorization", secretName(a, 0), "Bearer ", "");
      },
    },
    {
      name: "setRequestHeaderFromSecret",
      create(args) {
        const a = readArgs("setRequestHeaderFromSecret", args).count(2, 4);
        const header = a.string(0, "header name");
        if (!isHeaderName(header)) throw a.error(0, "header name", `is not a valid header name: ${JSON.stringify(header)}`);
        const name = secretName(a, 1);
        return injectSecret(secrets, "setRequestHeaderFromSecret", header, name, affix(a, 2, "prefix"), affix(a, 3, "suffix"));
      },
    },
  ];
}

function injectSecret(secrets: SecretsReader, filter: string, header: string, name: string, prefix: string, suffix: string): Filter {
  return {
    request(ctx: FilterContext) {
      const secret = secrets.lookup(name);
      if (secret.ok) {
        ctx.request.headers.set(header, prefix + secret.value + suffix);
        return;
      }
      secrets.refused(name, filter, secret.problem);
      // The body and header name the cause, never the secret's path or value: clients of an
      // egress proxy need not learn where its credentials live.
      ctx.serve(errorState(503, "secret-unavailable", "Service Unavailable: a credential this route needs is unavailable"));
    },
  };
}

function secretName(a: ArgReader, i: number): string {
  const name = a.string(i, "secret name");
  if (name === "") throw a.error(i, "secret name", "must not be empty");
  return name;
}

function affix(a: ArgReader, i: number, what: string): string {
  const text = a.optional(i, what, "string") ?? "";
  // A header value may hold a tab; an affix may not, as the secret value itself may not.
  if (!isHeaderValue(text) || text.includes("\t")) throw a.error(i, what, "must not contain control characters or characters beyond U+00FF");
  return text;
}
