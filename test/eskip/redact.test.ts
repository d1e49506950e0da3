/** /routes shows routes without the credentials written into them. */
import { expect, test } from "bun:test";
import { parse, print } from "../../src/eskip/index.ts";
import { redactCredentials } from "../../src/eskip/redact.ts";

const shown = (eskip: string) => print(parse(eskip).map(redactCredentials));

test("a credential field's value in a filter or a predicate is replaced; its name, the other arguments and other calls stay", () => {
  expect(shown(`a: Header("Authorization", "Bearer t0ken-1") && Path("/x") -> setRequestHeader("authorization", "Bearer t0ken-2") -> appendRequestHeader("Proxy-Authorization", "Basic dTpw") -> setRequestHeader("X-Other", "kept") -> "http://b.test"`)).toBe(
    `a: Header("Authorization", "<redacted>") && Path("/x") -> setRequestHeader("authorization", "<redacted>") -> appendRequestHeader("Proxy-Authorization", "<redacted>") -> setRequestHeader("X-Other", "kept") -> "http://b.test";`,
  );
});

test("a route without credentials is returned as it is; a secret read from a file shows its path", () => {
  const [route] = parse(`b: * -> bearerinjector("/run/secrets/gh") -> <dynamic>`);
  expect(redactCredentials(route!)).toBe(route!);
});

test("what is shown parses back", () => {
  const text = shown(`c: * -> setRequestHeader("Authorization", "Bearer x") -> <shunt>`);
  expect(print(parse(text))).toBe(text);
});
