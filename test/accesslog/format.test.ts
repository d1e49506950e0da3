import { describe, expect, test } from "bun:test";
import { requestDetails } from "../../src/accesslog/details.ts";
import { accessFormat, formatDate } from "../../src/accesslog/format.ts";
import type { ExchangeRecord } from "../../src/exchange/record.ts";
import { completed, parseDate, parseJson, parseText, STARTED_AT } from "./helpers.ts";

const text = accessFormat({ json: false, stripQuery: true });
const json = accessFormat({ json: true, stripQuery: true });

/** A request as the proxy handler records it, details from the headers as they arrived. */
function request(url: string, headers: Record<string, string>, fill: (r: ExchangeRecord) => void = () => {}) {
  const req = new Request(url, { headers });
  const { pathname, search } = new URL(url);
  return completed({ peer: "10.0.0.7", method: "GET", host: headers.host ?? new URL(url).host, path: pathname }, (r) => {
    r.details = requestDetails((name) => req.headers.get(name), search.slice(1), "HTTP/1.1");
    fill(r);
  });
}

describe("a proxied request", () => {
  const record = request(
    "http://api.example.com/v1/items?page=2",
    { host: "api.example.com", referer: "https://app.example.com/list", "user-agent": 'curl/8.5.0 "quoted"', "x-flow-id": "flow-42", "x-unverified-audit": "team-a" },
    (r) => {
      r.user = "alice";
      r.status = 418;
      r.bytesIn = 7;
      r.bytesOut = 2326;
      r.destination = "backend:8080";
      r.egress = { allowed: true, reason: "default" };
    },
  );
  const expected = {
    host: "10.0.0.7",
    "auth-user": "alice",
    timestamp: formatDate(STARTED_AT),
    method: "GET",
    uri: "/v1/items",
    proto: "HTTP/1.1",
    status: 418,
    "response-size": 2326,
    referer: "https://app.example.com/list",
    "user-agent": 'curl/8.5.0 "quoted"',
    duration: 42,
    "requested-host": "api.example.com",
    "flow-id": "flow-42",
    audit: "team-a",
  };

  test("text: Skipper's combined format with its four extra fields, parsed back field by field", async () => {
    const line = text(await record, STARTED_AT);
    expect(parseText(line)).toEqual(expected);
    expect(line).toContain(' "curl/8.5.0 \\"quoted\\"" 42 api.example.com flow-42 team-a\n');
  });

  test("JSON: the same fields under Skipper's keys, sorted, level info, empty msg, nothing more", async () => {
    expect(parseJson(json(await record, STARTED_AT))).toEqual(expected);
  });

  test("the timestamp is when the request began, to the second, with the zone's offset", async () => {
    const { timestamp } = parseText(text(await record, STARTED_AT));
    expect(parseDate(timestamp as string)).toBe(Math.floor(STARTED_AT / 1000) * 1000);
  });
});

test("empty values are - in text and \"\" in JSON; X-Forwarded-For is the client when sent", async () => {
  const record = await request("http://h.example/", { "x-forwarded-for": "192.0.2.1, 10.1.1.1" }, (r) => void (r.status = 200));
  const fields = { host: "192.0.2.1, 10.1.1.1", "auth-user": "", method: "GET", uri: "/", proto: "HTTP/1.1", status: 200, "response-size": 0, referer: "", "user-agent": "", "requested-host": "h.example", "flow-id": "", audit: "" };
  const line = text(record, STARTED_AT);
  expect(line).toStartWith("192.0.2.1, 10.1.1.1 - - [");
  expect(line).toEndWith(' 200 0 "-" "-" 42 h.example - -\n');
  expect(parseText(line)).toMatchObject(fields);
  expect(parseJson(json(record, STARTED_AT))).toMatchObject(fields);
});

test("a record without details (a head the forward port refused) still makes a line", async () => {
  const record = await completed({ listener: "forward", peer: "10.0.0.9", method: "", host: "", path: "" }, (r) => {
    r.status = 400;
    r.cause = "bad-request";
  });
  expect(parseText(text(record, STARTED_AT))).toMatchObject({ host: "10.0.0.9", method: "", uri: "", proto: "", status: 400 });
  expect(parseJson(json(record, STARTED_AT))).toMatchObject({ host: "10.0.0.9", method: "", status: 400, proto: "" });
});

test("no value can end a field or the line early: quotes, backslashes, controls and stray spaces are escaped", async () => {
  const record = await completed({ peer: "10.0.0.7", method: "GET", host: "h", path: "/" }, (r) => {
    r.user = "bob smith";
    r.details = { query: "", proto: "HTTP/1.1", referer: "", userAgent: 'a"b\\c\nd', forwardedFor: "", flowId: "f 1", audit: "x\ty" };
  });
  const line = text(record, STARTED_AT);
  expect(line.indexOf("\n")).toBe(line.length - 1);
  expect(parseText(line)).toMatchObject({ "auth-user": "bob smith", "user-agent": 'a"b\\c\nd', "flow-id": "f 1", audit: "x\ty" });
});

test("a TLS client's certificate subject is the user where there is no proxy user; a proxy user wins", async () => {
  const identity = { subject: "CN=billing,O=Acme", commonName: "billing", sans: ["URI:spiffe://cluster.local/ns/pay/sa/billing"] };
  const viaCertificate = await completed({ peer: "10.0.0.7", method: "GET", host: "h", path: "/" }, (r) => {
    r.identity = identity;
  });
  expect(parseText(text(viaCertificate, STARTED_AT))["auth-user"]).toBe("CN=billing,O=Acme");
  expect(parseJson(json(viaCertificate, STARTED_AT))["auth-user"]).toBe("CN=billing,O=Acme");
  const both = await completed({ peer: "10.0.0.7", method: "GET", host: "h", path: "/" }, (r) => {
    r.identity = identity;
    r.user = "alice";
  });
  expect(parseText(text(both, STARTED_AT))["auth-user"]).toBe("alice");
});

describe("a CONNECT tunnel, one line when it closed", () => {
  const tunnel = completed({ listener: "forward", peer: "10.0.0.8", method: "CONNECT", host: "db.example.com:443", path: "", kind: "tunnel" }, (r) => {
    r.user = "carol";
    r.details = requestDetails((name) => (name === "user-agent" ? "psql" : null), "", "HTTP/1.1");
    r.status = 200;
    r.destination = "db.example.com:443";
    r.dialed = "192.0.2.10:443";
    r.egress = { allowed: true, reason: "allow-rule", rule: "db.example.com" };
    r.bytesIn = 1234;
    r.bytesOut = 56789;
  }, 1500);
  const expected = {
    host: "10.0.0.8",
    "auth-user": "carol",
    timestamp: formatDate(STARTED_AT),
    method: "CONNECT",
    uri: "db.example.com:443",
    proto: "HTTP/1.1",
    status: 200,
    "response-size": 56789,
    referer: "",
    "user-agent": "psql",
    duration: 1500,
    "requested-host": "db.example.com:443",
    "flow-id": "",
    audit: "",
    "request-size": 1234,
    destination: "db.example.com:443",
    egress: "allow-rule",
  };

  test("text: the target as the uri, bytes down as the size, then bytes up, destination and egress reason", async () => {
    const line = text(await tunnel, STARTED_AT);
    expect(line).toContain('"CONNECT db.example.com:443 HTTP/1.1" 200 56789 ');
    expect(line).toEndWith(" 1500 db.example.com:443 - - 1234 db.example.com:443 allow-rule\n");
    expect(parseText(line)).toEqual(expected);
  });

  test("JSON: request-size, destination and egress as keys", async () => {
    expect(parseJson(json(await tunnel, STARTED_AT))).toEqual(expected);
  });

  test("a refused tunnel: its status, no destination, the egress reason that refused it", async () => {
    const denied = await completed({ peer: "10.0.0.8", method: "CONNECT", host: "10.1.2.3:22", path: "", kind: "tunnel" }, (r) => {
      r.status = 403;
      r.cause = "egress-denied";
      r.egress = { allowed: false, reason: "private-address", range: "private" };
    });
    expect(text(denied, STARTED_AT)).toEndWith(" 403 0 \"-\" \"-\" 42 10.1.2.3:22 - - 0 - private-address\n");
    expect(parseJson(json(denied, STARTED_AT))).toMatchObject({ status: 403, "request-size": 0, destination: "", egress: "private-address" });
  });
});

test("formatDate: made once a second, a new second gets its own", () => {
  const at = Date.UTC(2026, 0, 2, 15, 4, 5, 0);
  const offsetMs = new Date(at).getTimezoneOffset() * 60_000;
  const local = (ms: number) => new Date(ms - offsetMs).toISOString();
  expect(formatDate(at + 999)).toBe(formatDate(at));
  expect(formatDate(at + 1000)).not.toBe(formatDate(at));
  expect(formatDate(at + 1000)).toContain(`:${local(at + 1000).slice(11, 19)} `);
  expect(formatDate(at - 1)).toContain(`:${local(at - 1).slice(11, 19)} `);
});
