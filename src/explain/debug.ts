/**
 * @module
 * `/debug/explain` on the support listener (`-enable-debug-explain`, off by default: it tells
 * whoever reaches the support port how routes and policy are set up). The request is the query:
 * `url` (required), `method` (GET), `via` (forward, address or sni), `client`, `identity`,
 * `user`, `header=Name: value` (repeatable), `no-dns`. Against the live routes, lists and DNS
 * cache; nothing is sent and no rate-limit slot is taken.
 */
import { explain, type Via } from "./explain.ts";
import { formatExplanation } from "./format.ts";
import { requestOf, RequestArgsError } from "./request-args.ts";
import type { ExplainWorld } from "./world.ts";

const VIAS = new Set(["forward", "address", "sni"]);

export function debugExplain(world: () => ExplainWorld) {
  return async (query: URLSearchParams): Promise<Response> => {
    const text = (body: string, status = 200) => new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" } });
    try {
      const url = query.get("url");
      const via = query.get("via") ?? "forward";
      if (!url) throw new RequestArgsError("url is required: /debug/explain?url=https://api.example.com/x&via=forward");
      if (!VIAS.has(via)) throw new RequestArgsError(`via ${JSON.stringify(via)}: forward, address or sni`);
      const headers = query.getAll("header").map((h): [string, string] => {
        const colon = h.indexOf(":");
        if (colon <= 0) throw new RequestArgsError(`header ${JSON.stringify(h)} is not Name: value`);
        return [h.slice(0, colon).trim(), h.slice(colon + 1).trim()];
      });
      const request = requestOf((query.get("method") ?? "GET").toUpperCase(), url, {
        headers,
        client: query.get("client") ?? "127.0.0.1",
        identity: query.get("identity") ?? undefined,
        user: query.get("user") ?? undefined,
        via: via as Via,
        dns: !query.has("no-dns"),
      });
      return text(formatExplanation(await explain(world(), request)));
    } catch (err) {
      if (err instanceof RequestArgsError) return text(`Bad Request: ${err.message}\n`, 400);
      throw err;
    }
  };
}
