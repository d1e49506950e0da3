/** Builds the `MatchRequest` predicate and matcher tests feed in. */
import type { MatchRequest } from "../../src/predicates/types.ts";

export interface RequestInit {
  method?: string;
  host?: string;
  /** already cleaned, as the proxy hands it to the matcher */
  path?: string;
  headers?: Record<string, string> | [string, string][];
  /** raw query string, without "?" */
  query?: string;
  peer?: string;
}

export function request(init: RequestInit = {}): MatchRequest {
  return {
    method: init.method ?? "GET",
    host: init.host ?? "example.com",
    path: init.path ?? "/",
    headers: new Headers(init.headers ?? {}),
    query: new URLSearchParams(init.query ?? ""),
    peer: init.peer ?? "127.0.0.1",
  };
}
