/**
 * @module
 * Access log lines from completed exchange records, in Skipper's two layouts so its log pipelines
 * keep working. Text is the Apache combined format with Skipper's four extra fields:
 *
 * ```
 * 10.0.0.7 - alice [02/Jan/2026:15:04:05 +0000] "GET /v1/items HTTP/1.1" 200 512 "-" "curl/8.5.0" 42 api.example.com - -
 * ```
 *
 * JSON is the same fields under Skipper's keys (`host` is the client, `requested-host` the Host
 * header), sorted as logrus writes them, with `level` info and an empty `msg`.
 *
 * A tunnel (kind `tunnel`: CONNECT, later SNI) has the target authority as its uri and three
 * fields more, at the end of a text line and as keys in JSON: `request-size` (bytes the client
 * sent up the tunnel; `response-size` is the bytes that came down), `destination` (the
 * `host:port` it went to) and `egress` (the egress policy's reason: `allow-rule`, `default`,
 * `deny-rule`, …). Request lines have exactly Skipper's fields, so a parser of Skipper's lines
 * reads them unchanged.
 *
 * The user is the forward port's proxy user or, for a client of a TLS listener that presented a
 * verified certificate, its subject (`CN=billing,O=Acme`).
 *
 * In text, an empty value is `-`, and no value can end a line or a field early: quotes,
 * backslashes and control characters are escaped (`\"`, `\\`, `\x0a`), and spaces too outside
 * the quoted fields — except in the client, which is X-Forwarded-For's `a, b` list as Skipper
 * writes it.
 */
import type { ExchangeRecord, RequestDetails } from "../exchange/record.ts";
import { loggedReferer, loggedUri } from "./query.ts";

export interface AccessFormatOptions {
  /** JSON lines instead of text (`-access-log-json-enabled`) */
  readonly json: boolean;
  /** no query strings at all (`-access-log-strip-query`, default true) */
  readonly stripQuery: boolean;
}

/** One line from a record; `startedAt` is the wall-clock time (epoch ms) the exchange began. */
export type AccessFormat = (record: Readonly<ExchangeRecord>, startedAt: number) => string;

export function accessFormat(options: AccessFormatOptions): AccessFormat {
  const render = options.json ? renderJson : renderText;
  return (record, startedAt) => render(entryOf(record, startedAt, options.stripQuery));
}

/** A line's values, by Skipper's keys. */
interface Entry {
  readonly host: string;
  readonly "auth-user": string;
  readonly timestamp: string;
  readonly method: string;
  readonly uri: string;
  readonly proto: string;
  readonly status: number;
  readonly "response-size": number;
  readonly referer: string;
  readonly "user-agent": string;
  readonly duration: number;
  readonly "requested-host": string;
  readonly "flow-id": string;
  readonly audit: string;
  readonly tunnel: TunnelFields | undefined;
}

interface TunnelFields {
  readonly "request-size": number;
  readonly destination: string;
  readonly egress: string;
}

const NO_DETAILS: RequestDetails = { query: "", proto: "", referer: "", userAgent: "", forwardedFor: "", flowId: "", audit: "" };

function entryOf(record: Readonly<ExchangeRecord>, startedAt: number, stripQuery: boolean): Entry {
  const details = record.details ?? NO_DETAILS;
  const tunnel = record.kind === "tunnel";
  return {
    host: details.forwardedFor || record.peer,
    // As Apache's `SSLUserName SSL_CLIENT_S_DN`: a TLS client's subject where there is no proxy user.
    "auth-user": record.user ?? record.identity?.subject ?? "",
    timestamp: formatDate(startedAt),
    method: record.method,
    uri: tunnel ? record.host : loggedUri(record.path, details.query, stripQuery),
    proto: details.proto,
    status: record.status ?? 0,
    "response-size": record.bytesOut,
    referer: loggedReferer(details.referer, stripQuery),
    "user-agent": details.userAgent,
    duration: Math.max(0, Math.floor((record.end ?? record.start) - record.start)),
    "requested-host": record.host,
    "flow-id": details.flowId,
    audit: details.audit,
    tunnel: tunnel ? { "request-size": record.bytesIn, destination: record.destination ?? "", egress: record.egress?.reason ?? "" } : undefined,
  };
}

function renderText(e: Entry): string {
  const t = e.tunnel;
  const extra = t ? ` ${t["request-size"]} ${bare(t.destination)} ${bare(t.egress)}` : "";
  return (
    `${quotable(e.host)} - ${bare(e["auth-user"])} [${e.timestamp}] "${quotable(e.method)} ${quotable(e.uri)} ${quotable(e.proto)}" ` +
    `${e.status} ${e["response-size"]} "${quotable(e.referer)}" "${quotable(e["user-agent"])}" ${e.duration} ` +
    `${bare(e["requested-host"])} ${bare(e["flow-id"])} ${bare(e.audit)}${extra}\n`
  );
}

/** logrus's JSON keys in the order it writes them (sorted); also what JSON.stringify keeps. */
const JSON_KEYS = [
  "audit",
  "auth-user",
  "destination",
  "duration",
  "egress",
  "flow-id",
  "host",
  "level",
  "method",
  "msg",
  "proto",
  "referer",
  "request-size",
  "requested-host",
  "response-size",
  "status",
  "timestamp",
  "uri",
  "user-agent",
];

function renderJson(e: Entry): string {
  return `${JSON.stringify({ ...e, ...e.tunnel, level: "info", msg: "" }, JSON_KEYS)}\n`;
}

const QUOTABLE_UNSAFE = /[\x00-\x1f"\\\x7f]/g;
const BARE_UNSAFE = /[\x00-\x20"\\\x7f]/g;

/** A value inside quotes (or the client): `-` when empty, quotes, backslashes, controls escaped. */
const quotable = (value: string): string => (value === "" ? "-" : value.replace(QUOTABLE_UNSAFE, escapeChar));
/** A value between spaces: as {@link quotable}, and spaces escaped too. */
const bare = (value: string): string => (value === "" ? "-" : value.replace(BARE_UNSAFE, escapeChar));
const escapeChar = (c: string): string => (c === '"' ? '\\"' : c === "\\" ? "\\\\" : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number, width = 2): string => String(n).padStart(width, "0");

let cachedSecond = Number.NaN;
let cachedDate = "";

/** Go's `02/Jan/2006:15:04:05 -0700`, in local time as Skipper writes it; made once a second. */
export function formatDate(epochMs: number): string {
  const second = Math.floor(epochMs / 1000);
  if (second !== cachedSecond) {
    cachedDate = localDate(epochMs);
    cachedSecond = second;
  }
  return cachedDate;
}

function localDate(epochMs: number): string {
  const d = new Date(epochMs);
  const offset = -d.getTimezoneOffset();
  const sign = offset < 0 ? "-" : "+";
  const zone = `${sign}${pad(Math.floor(Math.abs(offset) / 60))}${pad(Math.abs(offset) % 60)}`;
  return `${pad(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${zone}`;
}
