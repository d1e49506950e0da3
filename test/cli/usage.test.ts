/** Usage text in the shape of Go's flag.PrintDefaults. */
import { describe, expect, test } from "bun:test";
import type { FlagDef } from "../../src/cli/_goflag.ts";
import { printDefaults, renderUsage } from "../../src/cli/_usage.ts";

describe("printDefaults", () => {
  test.each<{ name: string; def: FlagDef; text: string }>([
    {
      name: "string with a default: quoted",
      def: { name: "address", kind: "string", default: ":9090", usage: "TCP address the proxy listens on" },
      text: '  -address string\n    \tTCP address the proxy listens on (default ":9090")',
    },
    {
      name: "empty string default: not shown",
      def: { name: "inline-routes", kind: "string", default: "", usage: "routes" },
      text: "  -inline-routes string\n    \troutes",
    },
    {
      name: "bool: no type word, false default not shown",
      def: { name: "proxy-preserve-host", kind: "bool", default: false, usage: "keep Host" },
      text: "  -proxy-preserve-host\n    \tkeep Host",
    },
    {
      name: "bool true default shown",
      def: { name: "validate", kind: "bool", default: true, usage: "check" },
      text: "  -validate\n    \tcheck (default true)",
    },
    {
      name: "one-letter bool stays on one line",
      def: { name: "v", kind: "bool", default: false, usage: "verbose" },
      text: "  -v\tverbose",
    },
    {
      name: "int",
      def: { name: "default-http-status", kind: "int", default: 404, usage: "status" },
      text: "  -default-http-status int\n    \tstatus (default 404)",
    },
    {
      name: "int zero default not shown",
      def: { name: "n", kind: "int", default: 0, usage: "count" },
      text: "  -n int\n    \tcount",
    },
    {
      name: "duration in Go's canonical form",
      def: { name: "read-timeout-server", kind: "duration", default: "5m", usage: "read timeout" },
      text: "  -read-timeout-server duration\n    \tread timeout (default 5m0s)",
    },
    {
      name: "zero duration not shown",
      def: { name: "keepalive-server", kind: "duration", default: "0", usage: "max age" },
      text: "  -keepalive-server duration\n    \tmax age",
    },
    {
      name: "list",
      def: { name: "routes-file", kind: "list", default: ["a", "b"], usage: "files" },
      text: '  -routes-file string\n    \tfiles (default "a,b")',
    },
    {
      name: "repeat",
      def: { name: "breaker", kind: "repeat", default: [], usage: "breaker settings" },
      text: "  -breaker value\n    \tbreaker settings",
    },
    {
      name: "a backquoted word names the value",
      def: { name: "backend-ca-file", kind: "string", default: "", usage: "PEM `file` of CA certificates" },
      text: "  -backend-ca-file file\n    \tPEM file of CA certificates",
    },
  ])("$name", ({ def, text }) => {
    expect(printDefaults([def])).toBe(text);
  });

  test("flags are sorted by name", () => {
    const defs: FlagDef[] = [
      { name: "b", kind: "bool", default: false, usage: "B" },
      { name: "a-z", kind: "bool", default: false, usage: "AZ" },
      { name: "a", kind: "bool", default: false, usage: "A" },
    ];
    expect(printDefaults(defs)).toBe("  -a\tA\n  -a-z\n    \tAZ\n  -b\tB");
  });
});

describe("renderUsage", () => {
  test("synopsis, description, commands, flags", () => {
    const text = renderUsage({
      synopsis: ["tool [flags]", "tool <command> [arguments]"],
      description: "Does things.",
      commands: [
        { name: "check", description: "Checks" },
        { name: "go", description: "Goes" },
      ],
      flags: [{ name: "x", kind: "int", default: 1, usage: "an x" }],
    });
    expect(text).toBe(
      [
        "Usage: tool [flags]",
        "       tool <command> [arguments]",
        "",
        "Does things.",
        "",
        "Commands:",
        "  check  Checks",
        "  go     Goes",
        "",
        "Flags:",
        "  -x int",
        "    \tan x (default 1)",
        "",
      ].join("\n"),
    );
  });
});
