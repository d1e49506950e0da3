/** The forward port's head collection: whole head, too large, refused, late — on the fake clock. */
import { expect, test } from "bun:test";
import { HeadReader, type HeadOutcome } from "../../src/tunnel/head-reader.ts";
import { FakeClock } from "../support/clock.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

function reader(limit?: number) {
  const clock = new FakeClock();
  const outcomes: HeadOutcome[] = [];
  const r = new HeadReader({ clock, timeout: 10_000, limit, done: (o) => outcomes.push(o) });
  return { clock, outcomes, r };
}

test("a head that arrives in pieces is whole once its empty line is in; bytes after it are kept", () => {
  const { outcomes, r } = reader();
  for (const piece of ["CONNECT a.test:443 HT", "TP/1.1\r\nHost: a.test:443\r", "\n\r\n", "\x16\x03\x01"]) r.push(bytes(piece));
  expect(outcomes).toHaveLength(1);
  const [o] = outcomes as [HeadOutcome & { kind: "head" }];
  expect(o.kind).toBe("head");
  expect(o.head.target).toBe("a.test:443");
  expect(o.bytes.length).toBe(o.length);
  // once done, the caller owns the socket: later data is not the reader's
  expect(outcomes).toHaveLength(1);
});

test("what came with the head in one read is in bytes after length", () => {
  const { outcomes, r } = reader();
  r.push(bytes("CONNECT a.test:443 HTTP/1.1\r\n\r\nhello"));
  const [o] = outcomes as [HeadOutcome & { kind: "head" }];
  expect(new TextDecoder().decode(o.bytes.subarray(o.length))).toBe("hello");
});

test("a head that will not end within the limit", () => {
  const { outcomes, r } = reader(100);
  r.push(bytes("GET / HTTP/1.1\r\nX: " + "a".repeat(200)));
  expect(outcomes.map((o) => o.kind)).toEqual(["too-large"]);
});

test("a refused head", () => {
  const { outcomes, r } = reader();
  r.push(bytes("GET / HTTP/1.1\nHost: x\n\n"));
  expect(outcomes.map((o) => o.kind)).toEqual(["invalid"]);
});

test("a head not complete within the timeout", async () => {
  const { clock, outcomes, r } = reader();
  r.push(bytes("GET / HTTP/1.1\r\n"));
  await clock.advance(9_999);
  expect(outcomes).toEqual([]);
  await clock.advance(1);
  expect(outcomes.map((o) => o.kind)).toEqual(["timeout"]);
});

test("a head in time cancels the timer; a client that leaves cancels it too", async () => {
  const a = reader();
  a.r.push(bytes("GET / HTTP/1.1\r\n\r\n"));
  expect(a.clock.pending).toBe(0);
  const b = reader();
  b.r.cancel();
  await b.clock.advance(20_000);
  expect(b.outcomes).toEqual([]);
});
