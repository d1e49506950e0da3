/**
 * Every case of shared/conformance/eskip-cases.json: the same verdict as Skipper, the same tree
 * for valid input, and Skipper's exact error text for invalid input.
 */
import { describe, expect, test } from "bun:test";
import { EskipError } from "../../src/eskip/index.ts";
import { cases, expected, fixtureCases, plain, run, sharedCases, title } from "./cases.ts";

const positionOf = (message: string) => /position (\d+):/.exec(message)?.[1];

describe("eskip conformance: valid cases", () => {
  cases.forEach((c, i) => {
    if (!c.valid) return;
    test(title(c, i), () => {
      expect(plain(run(c))).toEqual(expected(c));
    });
  });
});

describe("eskip conformance: invalid cases", () => {
  cases.forEach((c, i) => {
    if (c.valid) return;
    test(title(c, i), () => {
      let error: unknown;
      try {
        run(c);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(EskipError);
      const e = error as EskipError;
      const want = c.error!;
      if (want.startsWith("parse failed")) {
        expect(e.kind).toBe("syntax");
        // Skipper's position is the byte offset where its lexer stood.
        expect(String(e.offset)).toBe(positionOf(want)!);
      } else {
        // Checks done after parsing carry no position in Skipper.
        expect(e.kind).toBe("semantic");
        expect(e.message).toBe(want);
      }
      expect(e.skipperMessage).toBe(want);
    });
  });
});

test("the data file holds the expected number of cases", () => {
  expect(cases.length).toBe(97);
  expect(cases.filter((c) => c.error_asserted_by_test).length).toBeGreaterThan(0);
});

test.skipIf(!(await sharedCases.exists()))("the fixture copy equals shared/conformance/eskip-cases.json", async () => {
  expect(await fixtureCases.json()).toEqual(await sharedCases.json());
});
