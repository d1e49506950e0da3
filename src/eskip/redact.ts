/**
 * @module
 * Routes as they may be shown (`/routes`): a credential written into a route stays out. A call
 * whose first argument names a credential field keeps that name and loses the rest —
 * `setRequestHeader("Authorization", "Bearer t0ken")` shows as
 * `setRequestHeader("Authorization", "<redacted>")`, and so does a `Header("Authorization", …)`
 * predicate. Secrets read from files (`bearerinjector("/run/secrets/gh")`) show their path only.
 */
import type { Arg, Call, RouteDef } from "./ast.ts";

/** Fields whose values are credentials, lower case. */
export const CREDENTIAL_FIELDS: ReadonlySet<string> = new Set(["authorization", "proxy-authorization"]);

export const REDACTED = "<redacted>";

const namesCredential = (call: Call): boolean => typeof call.args[0] === "string" && CREDENTIAL_FIELDS.has(call.args[0].toLowerCase());

function redactCall(call: Call): Call {
  if (!namesCredential(call)) return call;
  const args: Arg[] = call.args.map((arg, i) => (i === 0 ? arg : REDACTED));
  return { ...call, args };
}

/** The route with the values of credential fields written in it replaced by {@link REDACTED}. */
export function redactCredentials(route: RouteDef): RouteDef {
  if (!route.predicates.some(namesCredential) && !route.filters.some(namesCredential)) return route;
  return { ...route, predicates: route.predicates.map(redactCall), filters: route.filters.map(redactCall) };
}
