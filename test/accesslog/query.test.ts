import { expect, test } from "bun:test";
import { requestDetails } from "../../src/accesslog/details.ts";
import { accessFormat } from "../../src/accesslog/format.ts";
import { looksLikeCredential, REDACTED } from "../../src/accesslog/query.ts";
import { completed, parseJson, parseText, STARTED_AT } from "./helpers.ts";

const QUERY = "page=2&access_token=t0ken&X-Amz-Signature=abc123&q=cats&flag";

const record = () =>
  completed({ peer: "10.0.0.7", method: "GET", host: "h.example", path: "/search" }, (r) => {
    r.status = 200;
    r.details = requestDetails((name) => (name === "referer" ? "https://u:pw@app.example/from?session_id=s1&tab=3#access_token=frag" : null), QUERY, "HTTP/1.1");
  });

test("by default (-access-log-strip-query) the uri and the referer are paths only, in text and JSON", async () => {
  for (const json of [false, true]) {
    const line = accessFormat({ json, stripQuery: true })(await record(), STARTED_AT);
    expect((json ? parseJson : parseText)(line)).toMatchObject({ uri: "/search", referer: "https://app.example/from" });
    expect(line).not.toContain("?");
  }
});

test("-access-log-strip-query=false keeps the query as sent, but not the values of credential-looking parameters", async () => {
  for (const json of [false, true]) {
    const line = accessFormat({ json, stripQuery: false })(await record(), STARTED_AT);
    expect((json ? parseJson : parseText)(line)).toMatchObject({
      uri: `/search?page=2&access_token=${REDACTED}&X-Amz-Signature=${REDACTED}&q=cats&flag`,
      referer: `https://app.example/from?session_id=${REDACTED}&tab=3`,
    });
    for (const secret of ["t0ken", "abc123", "s1", "pw", "frag"]) expect(line).not.toContain(secret);
  }
});

test.each([
  ["access_token", true],
  ["X-Amz-Credential", true],
  ["X-Goog-Signature", true],
  ["client_secret", true],
  ["apiKey", true],
  ["api-key", true],
  ["sessionId", true],
  ["password", true],
  ["code", true],
  ["sig", true],
  ["oauth", true],
  ["access%5Ftoken", true],
  ["page", false],
  ["q", false],
  ["zipcode", false],
  ["state", false],
  ["redirect_uri", false],
])("%s looks like a credential: %p", (name, expected) => {
  expect(looksLikeCredential(name)).toBe(expected);
});
