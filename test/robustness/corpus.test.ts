/** The corpus's data files are what corpus.ts describes: rerun make-corpus.ts after changing it. */
import { expect, test } from "bun:test";
import { buildCorpus } from "./corpus.ts";
import { decodeSend, DOORS, encodeSend, readCorpus } from "./data.ts";

test("corpus/*.jsonl are current (bun test/robustness/make-corpus.ts writes them)", () => {
  const built = buildCorpus();
  for (const door of DOORS) expect(readCorpus(door)).toEqual(built.filter((c) => c.door === door));
});

test("a long run of a unit is stored as one repeat, and decodes to the same bytes", () => {
  const send = `GET /${"ab".repeat(500)} HTTP/1.1\r\n${"X: 1\r\n".repeat(100)}\r\n`;
  const segments = encodeSend(send);
  // The first unit that repeats wins, so the field lines are stored from the version's last digit on.
  expect(segments).toEqual(["GET /", { repeat: "ab", times: 500 }, " HTTP/1.", { repeat: "1\r\nX: ", times: 100 }, "1\r\n\r\n"]);
  expect(decodeSend(segments)).toBe(send);
});
