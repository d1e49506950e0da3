/**
 * Writes test/robustness/corpus/*.jsonl from corpus.ts: `bun test/robustness/make-corpus.ts`
 * after changing a family. test/robustness/corpus.test.ts fails while the files are stale.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { buildCorpus } from "./corpus.ts";
import { caseLine, CORPUS_DIR, corpusFile, DOORS } from "./data.ts";

mkdirSync(CORPUS_DIR, { recursive: true });
const cases = buildCorpus();
for (const door of DOORS) {
  const mine = cases.filter((c) => c.door === door);
  writeFileSync(corpusFile(door), mine.map(caseLine).join("\n") + "\n");
  console.log(`${corpusFile(door)}: ${mine.length} cases`);
}
