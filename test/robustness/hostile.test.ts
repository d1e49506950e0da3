/**
 * The hostile-input corpus (corpus/*.jsonl, written by make-corpus.ts from corpus.ts) against
 * the compiled binary: every case's bytes on a fresh connection to its door (-address, the
 * forward port, the SNI port), then a good request on a new connection. Each must get the
 * outcome its case names (corpus.ts explains them); no rejected request may reach an upstream
 * whole, no request smuggled inside another may reach it at all, no spelling of the blocked
 * /admin may reach it, no process may crash, and neither the breaker nor the rate limiter may be
 * charged for what the clients got wrong. The outcome of every case is written to RESULTS.md.
 *
 * Two proxies: one for -address, whose catch-all route sends to its upstream, and one for the
 * forward and SNI ports, whose requests must reach the built-in `<dynamic>` fallback (a catch-all
 * route would send them to a fixed backend whatever their target).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestDns, type TestDns } from "../support/dns.ts";
import { startProxy, type RunningProxy } from "../support/binary.ts";
import { SMUGGLED, SNI_NAME, type Case, type Door } from "./corpus.ts";
import { readCorpus } from "./data.ts";

/** Cases in flight at once, per door. */
const PARALLEL = 16;
/** An answer is over when nothing more arrived for this long (the proxies keep connections alive). */
const QUIET_MS = 300;
/** A case whose connection neither answered nor closed by then has hung the door. */
const HANG_MS = 15_000;
/** How long a tunnel case is held open before its far end is looked at. */
const TUNNEL_MS = 1000;
/** The rate limit on every route: more than the corpus and its probes send, fewer than the final check can count out quickly. */
const LIMIT = 2000;

interface Seen {
  readonly xCase: string | null;
  readonly path: string;
  readonly host: string | null;
  /** it came through the route, whose limiter charges it (a tunnel's requests do not) */
  readonly routed: boolean;
}

/** An upstream that records every request it received whole (its body read to the end). */
function recordingServer() {
  const whole: Seen[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      try {
        await req.arrayBuffer();
      } catch {
        return new Response("cut short", { status: 400 });
      }
      const url = new URL(req.url);
      whole.push({ xCase: req.headers.get("x-case"), path: url.pathname, host: req.headers.get("host"), routed: req.headers.has("x-routed") });
      return new Response("ok");
    },
  });
  return { server, whole, port: server.port! };
}

/** The SNI port's upstream: a raw listener keeping what each connection sent. */
function rawRecorder() {
  const received: string[] = [];
  const listener = Bun.listen<{ index: number }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        s.data = { index: received.push("") - 1 };
      },
      data(s, bytes) {
        received[s.data.index] += Buffer.from(bytes).toString("latin1");
      },
    },
  });
  return { listener, received };
}

interface Outcome {
  /** what the door did, for the table: `400 bad-request`, `closed`, `TLS alert 112` */
  readonly text: string;
  readonly status?: number;
  readonly closed: boolean;
  readonly hung: boolean;
}

/**
 * Sends a case's bytes on a new connection and reads until the door closes it or falls quiet, or
 * `waitMs` pass (a tunnel stays open and quiet: its cases stop waiting sooner, and are judged by
 * what reached the far end).
 */
async function exchange(port: number, bytes: string, waitMs = HANG_MS): Promise<Outcome> {
  let got = "";
  let closed = false;
  const { promise: done, resolve } = Promise.withResolvers<void>();
  let quiet: ReturnType<typeof setTimeout> | undefined;
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_s, chunk) {
        got += Buffer.from(chunk).toString("latin1");
        clearTimeout(quiet);
        quiet = setTimeout(resolve, QUIET_MS);
      },
      close() {
        closed = true;
        resolve();
      },
      error() {
        closed = true;
        resolve();
      },
    },
  });
  socket.write(Buffer.from(bytes, "latin1"));
  const hang = setTimeout(resolve, waitMs);
  await done;
  clearTimeout(hang);
  clearTimeout(quiet);
  socket.terminate();
  return describeAnswer(got, closed, waitMs);
}

function describeAnswer(got: string, closed: boolean, waitMs: number): Outcome {
  const hung = !closed && got === "" && waitMs === HANG_MS;
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(got);
  if (status) {
    const head = got.slice(0, got.indexOf("\r\n\r\n") + 1 || undefined);
    const cause = /\r\nx-sallyport-error: *([^\r\n]*)/i.exec(head)?.[1];
    const more = (got.match(/(^|\r\n)HTTP\/1\.[01] \d{3}/g)?.length ?? 1) > 1 ? ", then more answers" : "";
    return { text: `${status[1]}${cause ? ` ${cause}` : ""}${more}${closed ? ", closed" : ""}`, status: Number(status[1]), closed, hung };
  }
  if (got.charCodeAt(0) === 0x15) return { text: `TLS alert ${got.charCodeAt(6)}${closed ? ", closed" : ""}`, closed, hung };
  if (got !== "") return { text: `not HTTP: ${JSON.stringify(got.slice(0, 40))}`, closed, hung };
  return { text: closed ? "closed, no answer" : `open, no answer within ${waitMs / 1000} s`, closed, hung };
}

/** Runs `work` over `items`, `PARALLEL` at a time. */
async function inBatches<T, R>(items: readonly T[], work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await work(items[i]!);
      }
    }),
  );
  return results;
}

const GOOD = "good";
/** A request every door serves; `Connection: close` ends the exchange as soon as it is answered. */
const goodRequest = (door: Door, upstreamPort: number) =>
  door === "forward"
    ? `GET http://127.0.0.1:${upstreamPort}/good HTTP/1.1\r\nHost: 127.0.0.1:${upstreamPort}\r\nX-Case: ${GOOD}\r\nConnection: close\r\n\r\n`
    : `GET /good HTTP/1.1\r\nHost: h\r\nX-Case: ${GOOD}\r\nConnection: close\r\n\r\n`;

interface Row {
  readonly c: Case;
  readonly outcome: Outcome;
  /** the good request after it, on a new connection */
  readonly next: Outcome;
}

/** Whether a path the upstream received is the blocked /admin: its first segment, decoded once. */
function isAdmin(path: string): boolean {
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    decoded = path;
  }
  return decoded.split("/").filter((s) => s !== "" && s !== ".")[0] === "admin";
}

const ROUTE_ADMIN = `admin: PathSubtree("/admin") -> status(403) -> inlineContent("blocked") -> <shunt>`;
/**
 * A breaker that opens on one failure, and short client deadlines: a head or body that stops
 * arriving is the proxy's to refuse (408), not the upstream's to give up on. (Without
 * -read-timeout-server a body is not watched; test/proxy/defects.test.ts shows the breaker is
 * not charged then either.)
 */
/** The filters of each door's catch-all route: a mark for its upstream, then the limit. */
const LIMITED = `setRequestHeader("X-Routed", "1") -> clientRatelimit(${LIMIT}, "1h")`;
const COMMON = ["-breaker", "type=consecutive,failures=1,timeout=1h", "-idle-timeout-server", "1s", "-forward-head-timeout", "1s", "-read-timeout-server", "2s"];

let dns: TestDns;
let addressUp: ReturnType<typeof recordingServer>;
let forwardUp: ReturnType<typeof recordingServer>;
let sniUp: ReturnType<typeof rawRecorder>;
let reverse: RunningProxy;
let forward: RunningProxy;
let sniPort: number;
const rows: Row[] = [];

beforeAll(async () => {
  dns = await startTestDns();
  dns.answer(SNI_NAME, { A: ["127.0.0.1"] });
  // Not the allowed 127.0.0.1: an IP rule admits every name that resolves to exactly its address.
  dns.answer("denied.test", { A: ["127.0.0.3"] });
  addressUp = recordingServer();
  forwardUp = recordingServer();
  sniUp = rawRecorder();
  [reverse, forward] = await Promise.all([
    startProxy([...COMMON, "-inline-routes", `${ROUTE_ADMIN}; all: * -> ${LIMITED} -> "http://127.0.0.1:${addressUp.port}"`]),
    startProxy([
      ...COMMON,
      "-inline-routes", `${ROUTE_ADMIN}; fwd: * -> ${LIMITED} -> <dynamic>`,
      "-forward-address", "127.0.0.1:0",
      "-sni-address", "127.0.0.1:0",
      "-sni-upstream-port", String(sniUp.listener.port),
      "-egress-allow", `127.0.0.1,${SNI_NAME}`,
      "-connect-ports", String(forwardUp.port),
      "-dns-servers", dns.address,
    ]),
  ]);
  sniPort = Number(/:(\d+)"?( worker=\d+)?$/.exec(await forward.waitForLog(/sni listener on /))![1]);
});

afterAll(async () => {
  await Promise.all([reverse?.stop(), forward?.stop()]);
  addressUp?.server.stop(true);
  forwardUp?.server.stop(true);
  sniUp?.listener.stop(true);
  dns?.stop();
  if (rows.length) writeFileSync(join(import.meta.dir, "RESULTS.md"), resultsTable(rows));
});

const portOf = (door: Door) => (door === "address" ? reverse.port : door === "forward" ? forward.forwardPort! : sniPort);
const upstreamOf = (door: Door) => (door === "address" ? addressUp : forwardUp);
const fill = (c: Case) => c.send.replaceAll("{UP}", String(upstreamOf(c.door).port));

/** Runs a door's cases, each followed by a good request on a new connection. */
async function runDoor(door: Door): Promise<Row[]> {
  const cases = readCorpus(door);
  const done = await inBatches(cases, async (c) => {
    const outcome = await exchange(portOf(c.door), fill(c), c.expect === "tunnel" ? TUNNEL_MS : HANG_MS);
    const next = door === "sni" ? outcome : await exchange(portOf(door), goodRequest(door, upstreamOf(door).port));
    return { c, outcome, next };
  });
  rows.push(...done);
  return done;
}

/** What is wrong with one HTTP case's outcome, given what its upstream received; empty when nothing. */
function httpProblems(row: Row, seen: readonly Seen[]): string[] {
  const { c, outcome, next } = row;
  const problems: string[] = [];
  const arrivals = seen.filter((s) => s.xCase === c.id).length;
  const refused = outcome.status === undefined ? outcome.closed : (outcome.status >= 400 && outcome.status < 500) || outcome.status === 501 || outcome.status === 505;
  if (outcome.hung) problems.push("the door neither answered nor closed");
  switch (c.expect) {
    case "reject":
      if (!refused) problems.push(`expected a refusal, got ${outcome.text}`);
      if (arrivals) problems.push(`reached the upstream ${arrivals}×`);
      break;
    case "serve":
      if (outcome.status !== 200) problems.push(`expected 200, got ${outcome.text}`);
      if (arrivals !== 1) problems.push(`reached the upstream ${arrivals}×, expected once`);
      break;
    case "either":
      if (outcome.status === 200 ? arrivals !== 1 : !refused || arrivals > 0) problems.push(`neither served once nor refused: ${outcome.text}, upstream ${arrivals}×`);
      break;
    case "tunnel":
      if (outcome.status !== 200) problems.push(`expected the tunnel, got ${outcome.text}`);
      break;
  }
  if (next.status !== 200) problems.push(`the next good request got ${next.text}`);
  return problems;
}

/** The authority of an absolute-form request line, without userinfo: what the forward port must send as Host. */
const targetAuthority = (bytes: string) => /^[A-Z]+ http:\/\/(?:[^@/ ]*@)?([^/?# ]+)/.exec(bytes)?.[1];

/** What every upstream request must be: a case's (or a probe's), never smuggled, never /admin; from the forward port, with its target's authority as Host. */
function upstreamProblems(door: Door, seen: readonly Seen[], sent: ReadonlyMap<string, string>): string[] {
  const problems: string[] = [];
  for (const s of seen) {
    if (s.xCase === null) problems.push(`a request without X-Case reached the upstream: ${s.path}`);
    else if (s.xCase.startsWith(SMUGGLED)) problems.push(`a smuggled request reached the upstream: ${s.path}`);
    if (isAdmin(s.path)) problems.push(`the blocked path reached the upstream as ${s.path} (${s.xCase})`);
    const authority = door === "forward" && s.xCase ? targetAuthority(sent.get(s.xCase) ?? "") : undefined;
    if (authority !== undefined && s.host !== authority) problems.push(`Host ${s.host} for ${s.xCase}: the target's authority ${authority} must win`);
  }
  return problems;
}

/**
 * The route's limiter charged exactly the requests its upstream got whole: a malformed head,
 * target or framing never reaches the route, and a destination the egress policy refuses or a
 * body cut off or found bad on the way gives its slot back (src/proxy/unsent.ts). LIMIT minus
 * those are let through, then 429.
 */
async function limiterProblems(door: Door): Promise<string[]> {
  const up = upstreamOf(door);
  const charged = up.whole.filter((s) => s.routed).length;
  const statuses = await inBatches(Array.from({ length: LIMIT - charged + 1 }), () => exchange(portOf(door), goodRequest(door, up.port)).then((o) => o.status));
  const left = statuses.filter((s) => s === 200).length;
  if (left === LIMIT - charged && statuses.filter((s) => s === 429).length === 1) return [];
  return [`${door}: ${left} let through before 429; its upstream got ${charged} routed requests whole, so ${LIMIT - charged} expected`];
}

function crashes(proxy: RunningProxy): string[] {
  const out: string[] = [];
  if (proxy.proc.exitCode !== null) out.push(`exited ${proxy.proc.exitCode}`);
  out.push(...proxy.logs.filter((l) => /exited \(|panic|uncaught|internal|went from closed to open/i.test(l)));
  return out;
}

describe("the hostile-input corpus", () => {
  test("the data files hold at least 300 cases, one per id", () => {
    const all = (["address", "forward", "sni"] as const).flatMap(readCorpus);
    expect(all.length).toBeGreaterThanOrEqual(300);
    expect(new Set(all.map((c) => c.id)).size).toBe(all.length);
  });

  for (const door of ["address", "forward"] as const) {
    test(`${door}: every case gets its outcome, nothing rejected or smuggled reaches the upstream, the next request is served`, async () => {
      const done = await runDoor(door);
      const up = upstreamOf(door);
      const problems = done.flatMap((row) => httpProblems(row, up.whole).map((p) => `${row.c.id}: ${p}`));
      const sent = new Map(done.map((row) => [row.c.id, fill(row.c)]));
      sent.set(GOOD, goodRequest(door, up.port));
      problems.push(...upstreamProblems(door, up.whole, sent));
      expect(problems).toEqual([]);
    }, 300_000);
  }

  test("sni: hostile records are refused with an alert or a close and reach nothing; the valid hellos are forwarded byte for byte", async () => {
    const done = await runDoor("sni");
    const problems: string[] = [];
    for (const { c, outcome } of done) {
      const forwarded = sniUp.received.filter((r) => r === fill(c)).length;
      if (c.expect === "tunnel" && forwarded !== 1) problems.push(`${c.id}: forwarded ${forwarded}×, expected once (${outcome.text})`);
      if (c.expect === "reject" && (outcome.status !== undefined || outcome.hung)) problems.push(`${c.id}: ${outcome.text}`);
    }
    const expected = new Set(done.filter((r) => r.c.expect === "tunnel").map((r) => fill(r.c)));
    for (const bytes of sniUp.received) if (!expected.has(bytes)) problems.push(`the SNI upstream got a connection no case should open: ${JSON.stringify(bytes.slice(0, 80))}`);
    expect(problems).toEqual([]);
  }, 300_000);

  test("no process crashed or restarted, no breaker opened, and the rate limiter charged exactly the requests its upstream got whole", async () => {
    expect([...crashes(reverse), ...crashes(forward)]).toEqual([]);
    expect([...(await limiterProblems("address")), ...(await limiterProblems("forward"))]).toEqual([]);
  }, 120_000);
});

function resultsTable(done: readonly Row[]): string {
  // Control bytes written as \xNN: the table stays text.
  const esc = (s: string) => s.replaceAll("|", "\\|").replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
  const lines = [
    "# Hostile inputs: what each door did",
    "",
    "Written by test/robustness/hostile.test.ts on every run, from the corpus in test/robustness/corpus/",
    "(`bun test/robustness/make-corpus.ts` writes it from corpus.ts). *Expected* is the case's",
    "class (corpus.ts); *outcome* is the first answer (status and `X-Sallyport-Error`), a TLS alert,",
    "or how the connection ended; *upstream* says whether the request reached the upstream whole.",
    "",
    `${done.length} cases.`,
    "",
    "| case | expected | outcome | upstream | input |",
    "|---|---|---|---|---|",
  ];
  for (const { c, outcome } of [...done].sort((a, b) => a.c.id.localeCompare(b.c.id))) {
    const reached = c.door === "sni" ? (sniUp.received.includes(fill(c)) ? "forwarded" : "—") : upstreamOf(c.door).whole.some((s) => s.xCase === c.id) ? "reached" : "—";
    lines.push(`| \`${c.id}\` | ${c.expect} | ${esc(outcome.text)} | ${reached} | ${esc(c.about)} |`);
  }
  return lines.join("\n") + "\n";
}
