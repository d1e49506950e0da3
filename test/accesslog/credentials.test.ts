/**
 * No access log line shows a credential: not the client's Authorization or Proxy-Authorization,
 * not a cookie, not a secret a filter injected on the way to the backend — whether the record
 * comes from the real proxy handler or from the details picked off a request that had them all.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Server } from "bun";
import { requestDetails } from "../../src/accesslog/details.ts";
import { accessFormat } from "../../src/accesslog/format.ts";
import { parse } from "../../src/eskip/index.ts";
import { Exchanges, type ExchangeRecord } from "../../src/exchange/record.ts";
import { builtinFilters } from "../../src/filters/builtin.ts";
import { builtinPredicateRegistry } from "../../src/predicates/builtin.ts";
import { createHandler } from "../../src/proxy/handler.ts";
import { buildTable } from "../../src/routing/build.ts";
import { systemClock } from "../../src/util/clock.ts";
import { createRegistry } from "../../src/util/registry.ts";
import { FakeSecrets } from "../support/fake-secrets.ts";
import { completed, STARTED_AT } from "./helpers.ts";

const INJECTED = "inj3cted-backend-secret";
const SECRETS = ["b3arer-client-secret", "pr0xy-pa55word", "c00kie-session", "k3y-header", "t0ken-in-query", INJECTED];
const HEADERS = {
  authorization: `Bearer ${SECRETS[0]}`,
  "proxy-authorization": `Basic ${btoa(`alice:${SECRETS[1]}`)}`,
  cookie: `session=${SECRETS[2]}`,
  "x-api-key": SECRETS[3]!,
  "user-agent": "client/1.0",
};
const PATH_AND_QUERY = `/orders?access_token=${SECRETS[4]}`;

/** No secret, nor the base64 that carried one, in any layout with or without the query. */
function expectNoTrace(record: Readonly<ExchangeRecord>) {
  const needles = [...SECRETS, btoa(`alice:${SECRETS[1]}`), "Bearer", "Basic"];
  // the record itself keeps none: what is not in it no observer can write
  const { query, ...kept } = record.details ?? { query: "" };
  for (const needle of needles) expect(JSON.stringify({ ...record, details: kept })).not.toContain(needle);
  expect(query).not.toContain(SECRETS[0]!);
  for (const json of [false, true]) {
    for (const stripQuery of [true, false]) {
      const line = accessFormat({ json, stripQuery })(record, STARTED_AT);
      expect(line).toContain("/orders");
      for (const needle of needles) expect(line).not.toContain(needle);
    }
  }
}

test("the details picked off a request that had every credential header carry none of them", async () => {
  const req = new Request(`http://api.example.com${PATH_AND_QUERY}`, { headers: HEADERS });
  const record = await completed({ peer: "10.0.0.7", method: "GET", host: "api.example.com", path: "/orders" }, (r) => {
    r.user = "alice";
    r.status = 200;
    r.details = requestDetails((name) => req.headers.get(name), new URL(req.url).search.slice(1), "HTTP/1.1");
  });
  expect(record.details!.userAgent).toBe("client/1.0"); // the details were taken from this request
  expectNoTrace(record);
});

let upstream: Server<undefined>;
let proxy: Server<undefined>;
const exchanges = new Exchanges(systemClock);
const sentUpstream: string[] = [];

beforeAll(() => {
  upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req) => (sentUpstream.push(req.headers.get("authorization") ?? ""), new Response("ok")),
  });
  const secrets = new FakeSecrets().set("/secrets/orders", INJECTED);
  const routes = parse(`orders: * -> bearerinjector("/secrets/orders") -> "http://127.0.0.1:${upstream.port}"`);
  const table = buildTable(routes, { filters: createRegistry(builtinFilters({ secrets }), "filter"), predicates: builtinPredicateRegistry() });
  expect(table.problems).toEqual([]);
  const handler = createHandler({ table: () => table, defaultStatus: 404, maxLoopbacks: 9, preserveHost: false, upstream: { responseHeaderTimeout: 5000 }, exchanges });
  proxy = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: handler });
});
afterAll(() => {
  proxy.stop(true);
  upstream.stop(true);
});

test("the record the proxy handler completes for such a request, with a secret injected as the backend's bearer", async () => {
  const { promise: done, resolve } = Promise.withResolvers<Readonly<ExchangeRecord>>();
  const unsubscribe = exchanges.subscribe(resolve);
  try {
    const res = await fetch(`http://127.0.0.1:${proxy.port}${PATH_AND_QUERY}`, { headers: { ...HEADERS, host: "api.example.com" } });
    expect(await res.text()).toBe("ok");
    const record = await done;
    expect(sentUpstream).toEqual([`Bearer ${INJECTED}`]); // the secret did travel, just not into the log
    expect(record).toMatchObject({ path: "/orders", status: 200 });
    expectNoTrace(record);
  } finally {
    unsubscribe();
  }
});
