import { describe, expect, test } from "bun:test";
import type { Arg } from "../../src/eskip/ast.ts";
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

describe("path filters", () => {
  test.each([
    ["setPath", ["/new"], "/old", "/new"],
    ["setPath", ["/users/${id}"], "/old", "/users/42"],
    ["setPath", ["/x/${missing}"], "/old", "/x/"],
    ["modPath", [{ regexp: "^/api" }, ""], "/api/v1/api", "/v1/api"],
    ["modPath", ["o", "0"], "/foo/boo", "/f00/b00"],
    ["modPath", [{ regexp: "/(\\w+)/(\\w+)" }, "/$2/$1"], "/a/b", "/b/a"],
    ["modPath", [{ regexp: "/(\\w+)" }, "/${1}x"], "/a", "/ax"],
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

  test("status overrides the response status on the way back", async () => {
    const ctx = await run(createFilter("status", 418), makeContext(), { status: 200 });
    expect(ctx.response?.status).toBe(418);
  });
});

describe("backend filters", () => {
  test("backendTimeout sets the deadline", async () => {
    expect((await run(createFilter("backendTimeout", "1m30s"), makeContext())).backendTimeout).toBe(90_000);
  });

  test("setDynamicBackend*", async () => {
    expect((await run(createFilter("setDynamicBackendUrl", "https://api.example.com:8443/ignored"), makeContext())).dynamic.url?.host).toBe("api.example.com:8443");
    expect((await run(createFilter("setDynamicBackendHost", "h:81"), makeContext())).dynamic.host).toBe("h:81");
    expect((await run(createFilter("setDynamicBackendScheme", "https"), makeContext())).dynamic.scheme).toBe("https");
    const fromHeader = makeContext({ headers: new Headers({ "x-target": "t.example" }) });
    expect((await run(createFilter("setDynamicBackendHostFromHeader", "X-Target"), fromHeader)).dynamic.host).toBe("t.example");
    expect((await run(createFilter("setDynamicBackendHostFromHeader", "X-Target"), makeContext())).dynamic.host).toBeUndefined();
  });
});

describe("bad arguments name the filter, the argument and the reason", () => {
  test.each([
    ["setRequestHeader", ["X"], /setRequestHeader/],
    ["setRequestHeader", ["X", 1], /setRequestHeader.*argument 2/],
    ["status", ["200"], /status.*argument 1/],
    ["status", [99], /status.*100 to 599/],
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
