/** bearerinjector and setRequestHeaderFromSecret against a fake secrets reader. */
import { afterEach, describe, expect, test } from "bun:test";
import type { Arg } from "../../src/eskip/ast.ts";
import { createFilter, makeContext, run, secrets } from "./helpers.ts";

const TOKEN = "tok-3f9c";
const PATH = "/run/secrets/api";

afterEach(() => secrets.clear());

describe("a secret that is there goes into the header", () => {
  test.each([
    { name: "bearerinjector", args: [PATH], header: "authorization", expected: `Bearer ${TOKEN}` },
    { name: "setRequestHeaderFromSecret", args: ["X-Api-Key", PATH], header: "x-api-key", expected: TOKEN },
    { name: "setRequestHeaderFromSecret", args: ["X-Api-Key", PATH, "key="], header: "x-api-key", expected: `key=${TOKEN}` },
    { name: "setRequestHeaderFromSecret", args: ["Cookie", PATH, "sid=", "; v=1"], header: "cookie", expected: `sid=${TOKEN}; v=1` },
  ] as { name: string; args: Arg[]; header: string; expected: string }[])("$name($args)", async ({ name, args, header, expected }) => {
    secrets.set(PATH, TOKEN);
    const ctx = await run(createFilter(name, ...args), makeContext());
    expect(ctx.served).toBeUndefined();
    expect(ctx.request.headers.get(header)).toBe(expected);
  });

  test("bearerinjector replaces an Authorization the client sent", async () => {
    secrets.set(PATH, TOKEN);
    const ctx = await run(createFilter("bearerinjector", PATH), makeContext({ headers: new Headers({ authorization: "Bearer client" }) }));
    expect(ctx.request.headers.get("authorization")).toBe(`Bearer ${TOKEN}`);
  });

  test("a rotated value counts from the next request on", async () => {
    const filter = createFilter("bearerinjector", PATH);
    secrets.set(PATH, "old");
    expect((await run(filter, makeContext())).request.headers.get("authorization")).toBe("Bearer old");
    secrets.set(PATH, "new");
    expect((await run(filter, makeContext())).request.headers.get("authorization")).toBe("Bearer new");
  });
});

describe("an unavailable secret fails closed", () => {
  test.each([
    { problem: "missing", setup: () => {} },
    { problem: "invalid", setup: () => secrets.fail(PATH, "invalid") },
    { problem: "unreadable", setup: () => secrets.fail(PATH, "unreadable") },
  ])("$problem: 503 secret-unavailable, the request is not forwarded", async ({ problem, setup }) => {
    setup();
    const ctx = await run(createFilter("bearerinjector", PATH), makeContext({ headers: new Headers({ authorization: "Bearer client" }) }));
    expect(ctx.served?.status).toBe(503);
    expect(ctx.served?.headers.get("x-sallyport-error")).toBe("secret-unavailable");
    const body = await new Response(ctx.served!.body).text();
    expect(body).toBe("Service Unavailable: a credential this route needs is unavailable\n");
    expect(secrets.refusals).toEqual([{ name: PATH, filter: "bearerinjector", problem }]);
  });

  test("the refusal names neither the secret's path nor a value", async () => {
    secrets.fail(PATH, "invalid");
    const ctx = await run(createFilter("setRequestHeaderFromSecret", "X-Key", PATH), makeContext());
    const served = JSON.stringify([...ctx.served!.headers]) + (await new Response(ctx.served!.body).text());
    expect(served).not.toContain(PATH);
    expect(ctx.request.headers.has("x-key")).toBe(false);
  });
});

describe("bad arguments", () => {
  test.each([
    ["bearerinjector", [], /bearerinjector: expects 1 argument, got 0/],
    ["bearerinjector", [PATH, "x"], /bearerinjector: expects 1 argument, got 2/],
    ["bearerinjector", [1], /bearerinjector: argument 1 \(secret name\) must be a string, got number/],
    ["bearerinjector", [""], /bearerinjector: argument 1 \(secret name\) must not be empty/],
    ["setRequestHeaderFromSecret", ["X"], /setRequestHeaderFromSecret: expects 2 to 4 arguments, got 1/],
    ["setRequestHeaderFromSecret", ["X", PATH, "a", "b", "c"], /expects 2 to 4 arguments, got 5/],
    ["setRequestHeaderFromSecret", ["Bad Header", PATH], /argument 1 \(header name\) is not a valid header name/],
    ["setRequestHeaderFromSecret", ["X", PATH, "a\r\nX-Evil: 1"], /argument 3 \(prefix\) must not contain control characters/],
    ["setRequestHeaderFromSecret", ["X", PATH, "a\tb"], /argument 3 \(prefix\) must not contain control characters/],
    ["setRequestHeaderFromSecret", ["X", PATH, "", "€"], /argument 4 \(suffix\) must not contain control characters or characters beyond U\+00FF/],
    ["setRequestHeaderFromSecret", ["X:Y", PATH], /argument 1 \(header name\) is not a valid header name/],
    ["setRequestHeaderFromSecret", ["X", PATH, "", 7], /argument 4 \(suffix\) must be a string, got number/],
  ] as [string, Arg[], RegExp][])("%s(%j)", (name, args, message) => {
    expect(() => createFilter(name, ...args)).toThrow(message);
  });
});
