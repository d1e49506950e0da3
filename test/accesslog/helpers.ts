/** @module Completed exchange records and access log lines parsed back into Skipper's keys. */
import { Exchanges, type ExchangeRecord } from "../../src/exchange/record.ts";
import { FakeClock } from "../support/clock.ts";

/** 2026-01-02T15:04:05.678Z: when the test exchanges began, on the wall clock */
export const STARTED_AT = Date.UTC(2026, 0, 2, 15, 4, 5, 678);

/** A record begun, filled in by `fill`, and completed `durationMs` later on a fake clock. */
export async function completed(
  begin: { listener?: string; peer: string; method: string; host: string; path: string; kind?: ExchangeRecord["kind"] },
  fill: (record: ExchangeRecord) => void,
  durationMs = 42.9,
): Promise<Readonly<ExchangeRecord>> {
  const clock = new FakeClock();
  const exchanges = new Exchanges(clock);
  const record = exchanges.begin(begin.listener ?? "proxy", begin.peer, begin.method, begin.host, begin.path, begin.kind);
  fill(record);
  await clock.advance(durationMs);
  exchanges.complete(record);
  return record;
}

export type Fields = Record<string, string | number>;

const QUOTED = String.raw`"((?:[^"\\]|\\.)*)"`;
const TEXT_LINE = new RegExp(
  String.raw`^(.+?) - (\S+) \[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d+) (\d+) ${QUOTED} ${QUOTED} (\d+) (\S+) (\S+) (\S+)(?: (\d+) (\S+) (\S+))?\n$`,
);
const TEXT_KEYS = ["host", "auth-user", "timestamp", "method", "uri", "proto", "status", "response-size", "referer", "user-agent", "duration", "requested-host", "flow-id", "audit", "request-size", "destination", "egress"];
const NUMBERS = new Set(["status", "response-size", "duration", "request-size"]);

/** A text line field by field, by Skipper's JSON keys: `-` read as "", escapes undone. */
export function parseText(line: string): Fields {
  const m = TEXT_LINE.exec(line);
  if (!m) throw new Error(`not an access log line: ${JSON.stringify(line)}`);
  const fields: Fields = {};
  TEXT_KEYS.forEach((key, i) => {
    const raw = m[i + 1];
    if (raw === undefined) return;
    fields[key] = NUMBERS.has(key) ? Number(raw) : raw === "-" ? "" : unescape(raw);
  });
  return fields;
}

const unescape = (s: string): string => s.replace(/\\(x[0-9a-f]{2}|.)/g, (_, e: string) => (e.length === 3 ? String.fromCharCode(parseInt(e.slice(1), 16)) : e));

/** A JSON line, checked to be one line with logrus's sorted keys, level info and an empty msg. */
export function parseJson(line: string): Fields {
  if (!line.endsWith("}\n") || line.indexOf("\n") !== line.length - 1) throw new Error(`not one JSON line: ${JSON.stringify(line)}`);
  const { level, msg, ...fields } = JSON.parse(line) as Fields;
  const keys = Object.keys(JSON.parse(line) as object);
  if (keys.join() !== [...keys].sort().join()) throw new Error(`keys not sorted: ${keys.join()}`);
  if (level !== "info" || msg !== "") throw new Error(`level ${level}, msg ${msg}`);
  return fields;
}

/** `02/Jan/2006:15:04:05 -0700` back to epoch ms. */
export function parseDate(timestamp: string): number {
  const m = /^(\d\d)\/(\w{3})\/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-]\d\d)(\d\d)$/.exec(timestamp);
  if (!m) throw new Error(`not a Skipper timestamp: ${timestamp}`);
  const month = String("JanFebMarAprMayJunJulAugSepOctNovDec".indexOf(m[2]!) / 3 + 1).padStart(2, "0");
  return Date.parse(`${m[3]}-${month}-${m[1]}T${m[4]}:${m[5]}:${m[6]}${m[7]}:${m[8]}`);
}
