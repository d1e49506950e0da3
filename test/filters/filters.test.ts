import { describe, expect, test } from "bun:test";
import type { Arg } from "../../src/eskip/ast.ts";
import { BACKEND_TIMEOUT, DYNAMIC_TARGET } from "../../src/exchange/keys.ts";
import { createFilter, makeContext, run } from "./helpers.ts";

describe("header filters", () => {
  test.each([
    ["setRequestHeader", ["X-A", "v"], { "x-a": "old" }, { "x-a": "v" }],
    ["appendRequestHeader", ["X-A", "v"], { "x-a": "old" }, { "x-a": "old, v" }],
    ["dropRequestHeader", ["X-A"], { "x-a": "old", "x-b": "b" }, { "x-b": "b" }],
    ["setRequestHeader", ["X-Host", "${request.host}"], {}, { "x-host": "example.org" }],
    ["setRequestHeader", ["X-M", "${request.method} ${request.path}"], {}, { "x-m": "GET /p" }],
    ["setRequestHeader", ["X-Q", "q=${request.query.q}"], {}, { "x-q": "q=1" }],
    ["setRequestHeader", ["X-Copy", "${request.header.X-In}"], { "x-in": "in" }, { "x-in": "in", "x-copy": "in" }],
    ["setRequestHeader", ["X-Id", "id-${id}"], {}, { "x-id": "id-42" }],
    // Skipper: a placeholder that resolves empty leaves the header alone.
    ["setRequestHeader", ["X-None", "${request.header.Missing}"], {}, {}],
    ["setRequestHeader", ["X-Src", "${request.source}|${request.sourceFromLast}"], { "x-forwarded-for": " 1.1.1.1 , 2.2.2.2" }, { "x-forwarded-for": "1.1.1.1 , 2.2.2.2", "x-src": "1.1.1.1|2.2.2.2" }],
    ["setRequestHeader", ["X-Src", "${request.source}|${request.sourceFromLast}"], {}, { "x-src": "127.0.0.1|127.0.0.1" }],
    // Cookies are read as Go reads them: surrounding quotes removed.
    ["setRequestHeader", ["X-Sid", "${request.cookie.sid}"], { cookie: 'a=1; sid="abc"' }, { cookie: 'a=1; sid="abc"', "x-sid": "abc" }],
    ["setRequestHeader", ["X-Sid", "${request.cookie.sid}"], { cookie: "a=1" }, { cookie: "a=1" }],
  ] as [string, Arg[], Record<string, string>, Record<string, string>][])("%s(%j)", async (name, args, before, after) => {
    const ctx = makeContext({ path: "/p", rawQuery: "q=1", headers: new Headers(before) }, { id: "42" });
    await run(createFilter(name, ...args), ctx);
    expect(Object.fromEntries(ctx.request.headers)).toEqual(after);
  });

  test.each([
    ["setResponseHeader", ["X-R", "v"], { "x-r": "old" }, { "x-r": "v" }],
    ["appendResponseHeader", ["X-R", "v"], { "x-r": "old" }, { "x-r": "old, v" }],
    ["dropResponseHeader", ["X-R"], { "x-r": "old" }, {}],
    ["setResponseHeader", ["X-Echo", "${response.header.X-R}!"], { "x-r": "r" }, { "x-r": "r", "x-echo": "r!" }],
  ] as [string, Arg[], Record<string, string>, Record<string, string>][])("%s(%j)", async (name, args, before, after) => {
    const ctx = await run(createFilter(name, ...args), makeContext(), { status: 200, headers: before });
    expect(Object.fromEntries(ctx.response!.headers)).toEqual(after);
  });
});

describe("a placeholder that expands to no valid header value leaves the header alone", () => {
  test.each<{ name: string; args: Arg[]; why: string; rawQuery?: string; params?: Record<string, string> }>([
    { name: "setRequestHeader", args: ["X-Q", "${request.query.q}"], why: "CR LF", rawQuery: "q=a%0D%0AX-Evil:%201" },
    { name: "appendRequestHeader", args: ["X-Q", "v=${request.query.q}"], why: "NUL", rawQuery: "q=%00" },
    { name: "setRequestHeader", args: ["X-Q", "${request.query.q}"], why: "beyond U+00FF", rawQuery: "q=%E2%82%AC" },
    { name: "setRequestHeader", args: ["X-Id", "${id}"], why: "LF", params: { id: "a\nb" } },
    { name: "setResponseHeader", args: ["X-Id", "${id}"], why: "DEL", params: { id: "a\x7f" } },
    { name: "appendResponseHeader", args: ["X-Q", "${request.query.q}"], why: "LF", rawQuery: "q=%0A" },
  ])("$name($args): $why", async ({ name, args, rawQuery = "", params = {} }) => {
    const ctx = makeContext({ rawQuery, headers: new Headers({ "x-keep": "1" }) }, params);
    await run(createFilter(name, ...args), ctx, { status: 200, headers: { "x-keep": "1" } });
    expect(Object.fromEntries(ctx.request.headers)).toEqual({ "x-keep": "1" });
    expect(Object.fromEntries(ctx.response!.headers)).toEqual({ "x-keep": "1" });
  });

  test("a tab and Latin-1 are valid and set", async () => {
    const ctx = await run(createFilter("setRequestHeader", "X-Q", "${request.query.q}"), makeContext({ rawQuery: "q=a%09%C3%A9" }));
    expect(ctx.request.headers.get("x-q")).toBe("a\té");
  });
});

describe("path filters", () => {
  test.each([
    ["setPath", ["/new"], "/old", "/new"],
    ["setPath", ["/users/${id}"], "/old", "/users/42"],
    ["setPath", ["/x/${missing}"], "/old", "/x/"],
    ["modPath", [{ regexp: "^/api" }, ""], "/api/v1/api", "/v1/api"],
    ["modPath", ["o", "0"], "/foo/boo", "/f00/b00"],
    ["modPath", [{ regexp: "/(\\w+)/(\\w+)" }, "/$2/$1"], "/a/b", "/b/a"],
    ["modPath", [{ regexp: "/(\\w+)" }, "/${1}x"], "/a", "/ax"],
    // A leading (?i) becomes the i flag, which must survive the added g.
    ["modPath", ["(?i)^/API", "/v2"], "/api/x", "/v2/x"],
    ["modPath", [{ regexp: "(?i)a" }, "b"], "/AaA", "/bbb"],
    ["modPath", [{ regexp: "(?s)^/x.y" }, "/z"], "/x\ny", "/z"],
  ] as [string, Arg[], string, string][])("%s(%j) on %s", async (name, args, path, expected) => {
    const ctx = await run(createFilter(name, ...args), makeContext({ path }, { id: "42" }));
    expect(ctx.request.path).toBe(expected);
  });
});

describe("status and inlineContent", () => {
  test("inlineContent serves, with length and a sniffed type", async () => {
    const ctx = await run(createFilter("inlineContent", "héllo"), makeContext());
    expect(ctx.served?.status).toBe(200);
    expect(ctx.served?.body).toBe("héllo");
    expect(ctx.served?.headers.get("content-length")).toBe("6");
    expect(ctx.served?.headers.get("content-type")).toBe("text/plain; charset=utf-8");
  });

  test("inlineContent with a type, and HTML sniffing", async () => {
    expect((await run(createFilter("inlineContent", "{}", "application/json"), makeContext())).served?.headers.get("content-type")).toBe("application/json");
    expect((await run(createFilter("inlineContent", "<html><body>x"), makeContext())).served?.headers.get("content-type")).toBe("text/html; charset=utf-8");
  });

  test.each([200, 204, 418, 599])("status(%p) overrides the response status on the way back", async (code) => {
    const ctx = await run(createFilter("status", code), makeContext(), { status: 500 });
    expect(ctx.response?.status).toBe(code);
    expect(() => new Response(null, { status: code })).not.toThrow();
  });
});

describe("backend filters", () => {
  test("backendTimeout sets the deadline", async () => {
    expect((await run(createFilter("backendTimeout", "1m30s"), makeContext())).state.get(BACKEND_TIMEOUT)).toBe(90_000);
  });

  test("setDynamicBackend*", async () => {
    expect((await run(createFilter("setDynamicBackendUrl", "https://api.example.com:8443/ignored"), makeContext())).state.get(DYNAMIC_TARGET)?.url?.host).toBe("api.example.com:8443");
    expect((await run(createFilter("setDynamicBackendHost", "h:81"), makeContext())).state.get(DYNAMIC_TARGET)?.host).toBe("h:81");
    expect((await run(createFilter("setDynamicBackendScheme", "https"), makeContext())).state.get(DYNAMIC_TARGET)?.scheme).toBe("https");
    const fromHeader = makeContext({ headers: new Headers({ "x-target": "t.example" }) });
    expect((await run(createFilter("setDynamicBackendHostFromHeader", "X-Target"), fromHeader)).state.get(DYNAMIC_TARGET)?.host).toBe("t.example");
    expect((await run(createFilter("setDynamicBackendHostFromHeader", "X-Target"), makeContext())).state.get(DYNAMIC_TARGET)?.host).toBeUndefined();
  });
});

describe("bad arguments name the filter, the argument and the reason", () => {
  test.each([
    ["setRequestHeader", ["X"], /setRequestHeader/],
    ["setRequestHeader", ["X", 1], /setRequestHeader.*argument 2/],
    ["status", ["200"], /status.*argument 1/],
    ["status", [99], /status: argument 1 \(status code\) must be an integer from 200 to 599, got 99/],
    ["status", [100], /status.*200 to 599, got 100/],
    ["status", [101], /status.*200 to 599, got 101/],
    ["status", [199], /status.*200 to 599, got 199/],
    ["status", [600], /status.*200 to 599, got 600/],
    ["status", [200.5], /status.*200 to 599, got 200.5/],
    // Header names are RFC 9110 tokens, checked when the route is built, for all six filters.
    ...["setRequestHeader", "appendRequestHeader", "setResponseHeader", "appendResponseHeader"].flatMap((name) => [
      [name, ["X Bad", "v"], new RegExp(`${name}: argument 1 \\(header name\\) is not a valid header name: "X Bad"`)],
      [name, ["", "v"], new RegExp(`${name}: argument 1 \\(header name\\) is not a valid header name`)],
      [name, ["X:Y", "v"], new RegExp(`${name}: argument 1 \\(header name\\)`)],
    ]),
    ...["dropRequestHeader", "dropResponseHeader"].map((name) => [name, ["X Bad"], new RegExp(`${name}: argument 1 \\(header name\\) is not a valid header name`)]),
    // Text outside the placeholders is in every expansion, so a bad one is refused up front.
    ["setRequestHeader", ["X", "a\r\nX-Evil: 1"], /setRequestHeader: argument 2 \(value\) is not a valid header value/],
    ["appendResponseHeader", ["X", "${id}\x00"], /appendResponseHeader: argument 2 \(value\) is not a valid header value/],
    ["setResponseHeader", ["X", "€${id}"], /setResponseHeader: argument 2 \(value\) is not a valid header value/],
    ["backendTimeout", [10], /backendTimeout.*argument 1/],
    ["backendTimeout", ["10"], /backendTimeout.*argument 1/],
    ["modPath", [{ regexp: "(" }, "x"], /modPath.*argument 1/],
    ["setDynamicBackendUrl", ["ftp://x"], /setDynamicBackendUrl.*http or https/],
    ["setDynamicBackendScheme", ["gopher"], /setDynamicBackendScheme/],
    ["inlineContent", [], /inlineContent/],
  ] as [string, Arg[], RegExp][])("%s(%j)", (name, args, message) => {
    expect(() => createFilter(name, ...args)).toThrow(message);
  });
});
