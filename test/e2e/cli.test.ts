/** The command line of the compiled binary: Go flag rules, `check`, `eskip parse`. */
import { describe, expect, test } from "bun:test";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBinary } from "../support/binary.ts";

describe("flags", () => {
  test("an unknown flag: Go's message, usage, exit 2", async () => {
    const r = await runBinary(["-nope"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("flag provided but not defined: -nope");
    expect(r.stderr).toContain("-address");
  });

  test("a bare number is not a duration", async () => {
    const r = await runBinary(["-timeout-backend", "10"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("-timeout-backend");
  });

  test("-version", async () => {
    const r = await runBinary(["-version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^sallyport \d+\.\d+\.\d+/);
  });

  test("inline routes that do not parse stop the start with line:col", async () => {
    const r = await runBinary(["-address", "127.0.0.1:0", "-support-listener", "", "-inline-routes", `r1: * -> <shunt>;\nr2: * -> )`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("-inline-routes:2:");
  });

  test("a missing -backend-ca-file is named", async () => {
    const r = await runBinary(["-address", "127.0.0.1:0", "-support-listener", "", "-backend-ca-file", "/nonexistent/ca.pem"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("/nonexistent/ca.pem");
  });
});

describe("sallyport check", () => {
  test("valid files: exit 0", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sallyport-check-"));
    const ok = join(dir, "ok.eskip");
    await writeFile(ok, `a: Host("a.localhost") -> setRequestHeader("X", "y") -> "https://a.example.com";\n`);
    const r = await runBinary(["check", ok]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  test("every error as file:line:col: message, exit 1", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sallyport-check-"));
    const syntax = join(dir, "syntax.eskip");
    const semantic = join(dir, "semantic.eskip");
    await writeFile(syntax, `a: * -> <shunt>;\nb: Path("/b") -> )`);
    await writeFile(semantic, `a: * -> <shunt>;\n\nb: Path("/b")\n  -> noSuchFilter()\n  -> <shunt>`);
    const r = await runBinary(["check", syntax, semantic]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toStartWith(`${syntax}:2:`);
    expect(lines[1]).toStartWith(`${semantic}:4:6: `);
    expect(lines[1]).toContain("noSuchFilter");
  });
});

describe("sallyport eskip parse", () => {
  test("prints routes as JSON in the conformance shape", async () => {
    const r = await runBinary(["eskip", "parse"], `r: Path("/a") && HeaderRegexp("X", /y/) -> setPath("/b") -> <roundRobin, "http://a", "http://b">`);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      {
        id: "r",
        predicates: [{ name: "Path", args: ["/a"] }, { name: "HeaderRegexp", args: ["X", { regexp: "y" }] }],
        filters: [{ name: "setPath", args: ["/b"] }],
        backend: { type: "lb", algorithm: "roundRobin", endpoints: ["http://a", "http://b"] },
      },
    ]);
  });

  test("--mode filters", async () => {
    const r = await runBinary(["eskip", "parse", "--mode", "filters"], `a(1) -> b("x")`);
    expect(JSON.parse(r.stdout)).toEqual([{ name: "a", args: [1] }, { name: "b", args: ["x"] }]);
  });

  test("invalid input: line:col on stderr, exit 1", async () => {
    const r = await runBinary(["eskip", "parse"], `r1: * -> <shunt>;\nr2: * -> #`);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^2:\d+: /);
  });
});
