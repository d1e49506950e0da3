/** `/metrics` on the support handler: the Prometheus content type when metrics are given, 404 when not. */
import { expect, test } from "bun:test";
import { createSupportHandler } from "../../src/metrics/support.ts";
import type { RoutingTable } from "../../src/routing/table.ts";

/** /metrics never reads the table. */
const base = { table: (): RoutingTable => { throw new Error("the table is not read"); }, ready: () => true };

test("GET /metrics is the scrape, in the text format Prometheus asks for", async () => {
  const res = await createSupportHandler({ ...base, metrics: { render: () => "x_total 1\n" } })(new Request("http://support/metrics"));
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  expect(await res.text()).toBe("x_total 1\n");
});

test("without metrics, /metrics is not there", async () => {
  expect((await createSupportHandler(base)(new Request("http://support/metrics"))).status).toBe(404);
});

test("/debug/explain is not there unless -enable-debug-explain gives it a handler, which gets the query", async () => {
  expect((await createSupportHandler(base)(new Request("http://support/debug/explain?url=x"))).status).toBe(404);
  const seen: string[] = [];
  const explain = async (query: URLSearchParams) => (seen.push(query.get("url")!), new Response("explained\n"));
  expect(await (await createSupportHandler({ ...base, explain })(new Request("http://support/debug/explain?url=http%3A%2F%2Fa.test%2F"))).text()).toBe("explained\n");
  expect(seen).toEqual(["http://a.test/"]);
});
