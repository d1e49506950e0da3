/**
 * @module
 * The corpus's data files: one JSON object per line, its bytes as segments — latin1 text, or a
 * unit repeated (so a 2 MiB head stays a short line). make-corpus.ts writes them; the test reads them.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Case, Door } from "./corpus.ts";

export const CORPUS_DIR = join(import.meta.dir, "corpus");
export const DOORS: readonly Door[] = ["address", "forward", "sni"];
export const corpusFile = (door: Door) => join(CORPUS_DIR, `${door}.jsonl`);

type Segment = string | { readonly repeat: string; readonly times: number };

/** Repeats shorter than this many bytes stay text. */
const MIN_RUN = 256;
const MAX_UNIT = 32;

/** `send` as segments: runs of a unit of up to 32 bytes, repeated to 256 bytes or more, become repeats. */
export function encodeSend(send: string): Segment[] {
  const out: Segment[] = [];
  let text = "";
  for (let i = 0; i < send.length; ) {
    const run = longestRun(send, i);
    if (run) {
      if (text) out.push(text);
      text = "";
      out.push(run);
      i += run.repeat.length * run.times;
    } else text += send[i++];
  }
  if (text) out.push(text);
  return out;
}

function longestRun(s: string, at: number): { repeat: string; times: number } | undefined {
  let best: { repeat: string; times: number } | undefined;
  for (let unit = 1; unit <= MAX_UNIT && at + unit * 2 <= s.length; unit++) {
    let times = 1;
    while (s.startsWith(s.slice(at, at + unit), at + unit * times)) times++;
    if (unit * times >= MIN_RUN && times >= 8 && (!best || unit * times > best.repeat.length * best.times)) best = { repeat: s.slice(at, at + unit), times };
  }
  return best;
}

export const decodeSend = (segments: readonly Segment[]): string => segments.map((s) => (typeof s === "string" ? s : s.repeat.repeat(s.times))).join("");

/** One data file's line for a case. */
export const caseLine = (c: Case): string => JSON.stringify({ id: c.id, family: c.family, about: c.about, expect: c.expect, send: encodeSend(c.send) });

/** The cases of one door, as its data file holds them. */
export function readCorpus(door: Door): Case[] {
  return readFileSync(corpusFile(door), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const { send, ...rest } = JSON.parse(line) as Omit<Case, "send" | "door"> & { send: Segment[] };
      return { ...rest, door, send: decodeSend(send) };
    });
}
