/** @module Real upstream servers on 127.0.0.1 for the end-to-end tests. */
import type { Server } from "bun";

export interface Echo {
  name: string;
  method: string;
  url: string;
  headers: Record<string, string>;
}

/** Answers every request with a JSON description of what it received. */
export function echoServer(name: string, tls?: { key: string; cert: string }): Server<undefined> {
  return Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls,
    fetch(req) {
      const body: Echo = { name, method: req.method, url: req.url, headers: Object.fromEntries(req.headers) };
      return Response.json(body, { headers: { "x-upstream": name } });
    },
  });
}
