/**
 * @module
 * `/debug/explain` on the support listener (`-enable-debug-explain`, off by default: it tells
 * whoever reaches the support port how routes and policy are set up). The request is the query:
 * `url` (required), `method` (GET), `via` (forward, address or sni), `client`, `identity`,
 * `user`, `header=Name: value` (repeatable), `no-dns`. Against the live routes, lists and DNS
 * cache; nothing is sent and no rate-limit slot is taken.
 */
import { explain } from "./explain.ts";
import { formatExplanation } from "./format.ts";
import { parseHeader, parseVia, requestOf, RequestArgsError } from "./request-args.ts";
import type { ExplainWorld } from "./world.ts";

export function debugExplain(world: () => ExplainWorld) {
  return async (query: URLSearchParams): Promise<Response> => {
    const text = (body: string, status = 200) => new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" } });
    try {
      const url = query.get("url");
      if (!url) throw new RequestArgsError("url is required: /debug/explain?url=https://api.example.com/x&via=forward");
      const via = parseVia(query.get("via") ?? "forward", "via");
      const headers = query.getAll("header").map(parseHeader);
      const request = requestOf((query.get("method") ?? "GET").toUpperCase(), url, {
        headers,
        client: query.get("client") ?? "127.0.0.1",
        identity: query.get("identity") ?? undefined,
        user: query.get("user") ?? undefined,
        via,
        dns: !query.has("no-dns"),
      });
      return text(formatExplanation(await explain(world(), request)));
    } catch (err) {
      if (err instanceof RequestArgsError) return text(`Bad Request: ${err.message}\n`, 400);
      throw err;
    }
  };
}
