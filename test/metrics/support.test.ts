/** `/metrics` on the support handler: the Prometheus content type when metrics are given, 404 when not. */
import { expect, test } from "bun:test";
import { createSupportHandler } from "../../src/metrics/support.ts";
import type { RoutingTable } from "../../src/routing/table.ts";

/** /metrics never reads the table. */
const base = { table: (): RoutingTable => { throw new Error("the table is not read"); }, ready: () => true };

test("GET /metrics is the scrape, in the text format Prometheus asks for", async () => {
  const res = createSupportHandler({ ...base, metrics: { render: () => "x_total 1\n" } })(new Request("http://support/metrics"));
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  expect(await res.text()).toBe("x_total 1\n");
});

test("without metrics, /metrics is not there", () => {
  expect(createSupportHandler(base)(new Request("http://support/metrics")).status).toBe(404);
});
