/**
 * Layers point one way. Every folder of src/ has a rank; a file may import from its own folder or
 * from a folder of lower rank, never upwards — and no set of files may import each other in a
 * loop (type imports count: a loop of types is still a knot to untie). A new folder must be given
 * its rank here, which is the moment to decide where it sits.
 */
import { expect, test } from "bun:test";
import { Glob } from "bun";
import { dirname, join, relative } from "node:path";

const SRC = join(import.meta.dir, "../src");

/** Lower ranks are lower layers. Folders of equal rank may not import each other. */
const RANK: Record<string, number> = {
  eskip: 0,
  util: 1,
  log: 1,
  net: 2,
  secrets: 2,
  circuit: 3,
  tls: 3,
  // our HTTP/1.1 client for backends
  client: 3,
  // the Redis shards cluster rate limits are kept in
  swarm: 3,
  exchange: 4,
  egress: 5,
  accesslog: 5,
  ratelimit: 5,
  predicates: 5,
  filters: 6,
  config: 6,
  routing: 7,
  proxy: 8,
  metrics: 8,
  // the forward port's front relays to a proxy handler of its own
  tunnel: 9,
  // what the proxy would do with a request: the routes, filters and dial plan, offline
  explain: 9,
  // the SNI port pipes through the tunnel's openTunnel, so it sits above it
  sni: 10,
  // -address over TLS: a raw front relaying to the route engine of ../tunnel/engine.ts
  https: 10,
  cli: 10,
  // -workers: the primary starting, watching and gathering the worker processes
  workers: 10,
  // src/*.ts: main.ts, app.ts wire everything
  "": 11,
};

interface Import {
  readonly from: string;
  readonly to: string;
}

async function imports(): Promise<Import[]> {
  const found: Import[] = [];
  for await (const file of new Glob("**/*.ts").scan(SRC)) {
    const text = await Bun.file(join(SRC, file)).text();
    for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"|^\s*import\s+"(\.[^"]+)"/gm)) {
      found.push({ from: file, to: relative(SRC, join(SRC, dirname(file), (m[1] ?? m[2])!)) });
    }
  }
  return found;
}

const folderOf = (file: string) => (file.includes("/") ? file.slice(0, file.indexOf("/")) : "");

test("every folder of src/ has a rank", async () => {
  const folders = new Set((await imports()).flatMap((i) => [folderOf(i.from), folderOf(i.to)]));
  expect([...folders].filter((f) => RANK[f] === undefined)).toEqual([]);
});

test("no import points up a layer (or across to a folder of the same rank)", async () => {
  const upward = (await imports()).filter(({ from, to }) => folderOf(from) !== folderOf(to) && RANK[folderOf(to)]! >= RANK[folderOf(from)]!);
  expect(upward.map(({ from, to }) => `${from} → ${to}`)).toEqual([]);
});

test("no files import each other in a loop", async () => {
  const graph = new Map<string, string[]>();
  for (const { from, to } of await imports()) graph.set(from, [...(graph.get(from) ?? []), to]);
  const state = new Map<string, "active" | "done">();
  const loops: string[] = [];
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === "done") return;
    if (state.get(file) === "active") {
      loops.push([...path.slice(path.indexOf(file)), file].join(" → "));
      return;
    }
    state.set(file, "active");
    for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
    state.set(file, "done");
  };
  for (const file of graph.keys()) visit(file, []);
  expect(loops).toEqual([]);
});
