/**
 * The soak's load generator: bench/soak.ts starts one of these per kind of traffic, each a Bun
 * child process that sends its share of the soak's rate at a fixed pace and says every 10 s what
 * came back. Bun rather than wrk: wrk cannot send CONNECT, hang up mid-response on purpose, hold a
 * fixed rate (it sends as fast as it can) or report percentiles while it runs; a fixed rate also
 * keeps this process's own CPU at what the rate costs, instead of whatever is left on the cores.
 *
 *   bun bench/soak-load.ts '{"kind":"routed","rate":2000,"lanes":20,…}'   (a LoadSpec as JSON)
 *
 * Plain HTTP/1.1 over Bun.connect sockets, written and parsed here, so every byte on the wire is
 * the one meant (a fetch client would pool, retry and hide closes) and a request costs some tens
 * of microseconds of this process. A lane is one client connection sending one request at a time,
 * every 1/(rate/lanes) s; a lane more than a second behind skips the missed turns and counts them
 * as `late` rather than sending a burst. Traffic, by kind:
 *
 * - routed   `GET /flaky` with `Host: soak` to -address: the soak route injects the rotating
 *            secret (nginx echoes it back in X-Soak-Auth) and names its routes generation
 * - forward  the same GET in absolute form to the forward port (the built-in fallback route)
 * - tunnel   `CONNECT` to the upstream through the forward port, then GETs inside the tunnel
 * - quitter  clients that go away: a new connection through one of the three doors, a request for
 *            the slow body, and a hang-up (FIN or RST) half-way through the request head, just
 *            after it, or during the body; through a tunnel also right after the CONNECT
 *
 * Keep-alive connections are closed by the client after a random number of requests and opened
 * again, tunnels after 1 to 20, so connection set-up and teardown stay part of the mix.
 *
 * stdin takes `tick` (answered by one line of JSON on stdout: the {@link KindStats} since the last
 * tick), `gen NAME N GRACE_MS` (the secret or the routes are now generation N: a routed response
 * sent GRACE_MS after this that still carries an older one is an unexpected error) and `stop`.
 */
import type { Socket } from "bun";
import { Histogram, type SparseHistogram } from "./histogram.ts";
import { SMALL_BODY } from "./servers.ts";

export type Kind = "routed" | "forward" | "tunnel" | "quitter";

/** Answers 200 with the 1 KiB body, or (1 % of the time) an injected failure. */
export const FLAKY_PATH = "/flaky";
/** 64 KiB at 16 KiB/s: a body that is still streaming when a quitter hangs up. */
export const SLOW_PATH = "/slow";
/** on the upstream's injected 500s */
export const FAILURE_HEADER = "x-soak-failure";
/** the Authorization the upstream received, echoed back */
export const AUTH_ECHO_HEADER = "x-soak-auth";
/** set by the soak route: the generation of the routes file that answered */
export const ROUTES_HEADER = "x-soak-routes";
/** the token in the secret file is `soak-N`, N its generation */
export const TOKEN_PREFIX = "soak-";

export interface LoadSpec {
  readonly kind: Kind;
  /** requests per second of this kind in all; 0: every lane as fast as it can (the maximum) */
  readonly rate: number;
  readonly lanes: number;
  readonly proxyPort: number;
  readonly forwardPort: number;
  readonly upstreamPort: number;
  /** the Host the soak route matches */
  readonly host: string;
}

/** What one load generator saw between two ticks. */
export interface KindStats {
  readonly kind: Kind;
  /** requests that ended, one way or another */
  readonly requests: number;
  readonly ok: number;
  /** what the soak causes on purpose: injected upstream failures, the quitters' hang-ups, by kind */
  readonly expected: Record<string, number>;
  /** everything else, by kind */
  readonly unexpected: Record<string, number>;
  /** the first few unexpected ones in words */
  readonly examples: string[];
  /** turns skipped because a lane was more than a second behind */
  readonly late: number;
  /** tunnels opened (CONNECT answered 200) */
  readonly tunnels: number;
  /** of every response that arrived whole, from the request's first byte to the body's last */
  readonly latency: SparseHistogram;
}

/** a request that has no whole answer by then is an unexpected error */
const REQUEST_TIMEOUT_MS = 10_000;
const LATE_MS = 1000;
const EXAMPLES = 3;

const random = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));
const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)]!;

/** A response as this client needs it: status, the head's text for header look-ups, body bytes. */
interface Reply {
  readonly status: number;
  readonly head: string;
  readonly bodyBytes: number;
}

const headerPatterns = new Map<string, RegExp>();

/** A header's value in a response head (the first one), or undefined. */
export function header(head: string, name: string): string | undefined {
  let re = headerPatterns.get(name);
  if (!re) headerPatterns.set(name, (re = new RegExp(`\\r\\n${name}:[ \\t]*([^\\r]*)`, "i")));
  return re.exec(head)?.[1];
}

/**
 * Reads one response from the bytes of a connection as they come: the head, then the body by
 * Content-Length, chunked framing, or up to the close. `noBody` for the answer to CONNECT.
 */
class ReplyParser {
  #buf: Buffer = Buffer.alloc(0);
  #head?: { status: number; head: string; length?: number; chunked: boolean };
  #body = 0;

  constructor(readonly noBody: boolean) {}

  get started(): boolean {
    return this.#buf.length > 0 || this.#head !== undefined;
  }

  get head(): { status: number; head: string } | undefined {
    return this.#head;
  }

  /** The reply once it is complete; throws on bytes that are not HTTP. */
  feed(data: Buffer): Reply | undefined {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, data]) : data;
    if (!this.#head) {
      const end = this.#buf.indexOf("\r\n\r\n");
      if (end < 0) return undefined;
      const head = this.#buf.subarray(0, end + 2).toString("latin1");
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (!status) throw new Error(`not an HTTP response: ${JSON.stringify(head.slice(0, 40))}`);
      const length = header(head, "content-length");
      this.#head = { status: Number(status[1]), head, length: length === undefined ? undefined : Number(length), chunked: /chunked/i.test(header(head, "transfer-encoding") ?? "") };
      this.#buf = this.#buf.subarray(end + 4);
      if (this.noBody) return this.#done();
    }
    return this.#head.chunked ? this.#chunks() : this.#counted();
  }

  /** At the close: a body that runs to the close is whole now; anything else is cut short. */
  closed(): Reply | undefined {
    return this.#head && this.#head.length === undefined && !this.#head.chunked ? this.#done(this.#buf.length) : undefined;
  }

  #counted(): Reply | undefined {
    const h = this.#head!;
    if (h.length === undefined) return undefined;
    return this.#buf.length >= h.length ? this.#done(h.length) : undefined;
  }

  #chunks(): Reply | undefined {
    for (;;) {
      const eol = this.#buf.indexOf("\r\n");
      if (eol < 0) return undefined;
      const size = parseInt(this.#buf.subarray(0, eol).toString("latin1"), 16);
      if (Number.isNaN(size)) throw new Error("bad chunk size");
      // the last chunk: no trailers here, so its empty line follows at once
      if (size === 0) return this.#buf.length >= eol + 4 ? this.#done(this.#body) : undefined;
      if (this.#buf.length < eol + 2 + size + 2) return undefined;
      this.#body += size;
      this.#buf = this.#buf.subarray(eol + 2 + size + 2);
    }
  }

  #done(bodyBytes = 0): Reply {
    return { status: this.#head!.status, head: this.#head!.head, bodyBytes };
  }
}

/** The connection closed (FIN, RST or our own timeout) before the reply was whole. */
class ConnectionClosed extends Error {
  constructor(
    why: string,
    /** whether any byte of the reply had arrived */
    readonly replyStarted: boolean,
  ) {
    super(why + (replyStarted ? " in the middle of the response" : ""));
  }
}

/** One client connection to 127.0.0.1, one request at a time. */
class Connection {
  #socket?: Socket;
  #parser?: ReplyParser;
  #waiter?: { resolve: (r: Reply) => void; reject: (e: Error) => void; headOnly: boolean };
  #closed = false;

  static async open(port: number): Promise<Connection> {
    const c = new Connection();
    c.#socket = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        data: (_s, data) => c.#onData(data),
        end: () => c.#onClose("the proxy closed the connection"),
        close: () => c.#onClose("the connection closed"),
        error: (_s, e) => c.#onClose(e.message),
      },
    });
    return c;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends raw bytes (a request, or part of one). */
  write(text: string): void {
    if (this.#socket!.write(text) < text.length) throw new Error("short write");
  }

  /** Sends `request` and waits for the whole reply (or only its head); `noBody` for CONNECT. */
  exchange(request: string, opts: { noBody?: boolean; headOnly?: boolean } = {}): Promise<Reply> {
    if (this.#closed) return Promise.reject(new ConnectionClosed("the connection closed", false));
    this.#parser = new ReplyParser(opts.noBody ?? false);
    const reply = new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => this.#fail(new Error(`no whole answer within ${REQUEST_TIMEOUT_MS / 1000} s`)), REQUEST_TIMEOUT_MS);
      this.#waiter = {
        resolve: (r) => (clearTimeout(timer), resolve(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
        headOnly: opts.headOnly ?? false,
      };
    });
    this.write(request);
    return reply;
  }

  /** Graceful (FIN) or abrupt (RST, as a killed client's kernel sends). */
  close(abrupt = false): void {
    this.#closed = true;
    if (abrupt) this.#socket?.terminate();
    else this.#socket?.end();
  }

  #onData(data: Buffer): void {
    const w = this.#waiter;
    if (!w || !this.#parser) return;
    try {
      const reply = this.#parser.feed(data);
      const head = this.#parser.head;
      if (reply) this.#settle(reply);
      else if (w.headOnly && head) this.#settle({ ...head, bodyBytes: 0 });
    } catch (e) {
      this.#fail(e as Error);
    }
  }

  #settle(reply: Reply): void {
    const w = this.#waiter!;
    this.#waiter = undefined;
    w.resolve(reply);
  }

  #onClose(why: string): void {
    this.#closed = true;
    const whole = this.#parser?.closed();
    if (whole && this.#waiter) this.#settle(whole);
    else this.#fail(new ConnectionClosed(why, this.#parser?.started ?? false));
  }

  #fail(e: Error): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    if (!this.#closed) this.close(true);
    w?.reject(e);
  }
}

/** A way into the proxy: its port, the CONNECT to send first (tunnels), and how a GET is written. */
interface Door {
  readonly name: "routed" | "forward" | "tunnel";
  readonly port: number;
  readonly connect?: string;
  get(path: string): string;
  /** requests on one connection before the client closes it and opens another */
  readonly life: readonly [number, number];
}

function doors(spec: LoadSpec): Record<Door["name"], Door> {
  const upstream = `127.0.0.1:${spec.upstreamPort}`;
  return {
    routed: { name: "routed", port: spec.proxyPort, get: (p) => `GET ${p} HTTP/1.1\r\nHost: ${spec.host}\r\n\r\n`, life: [1, 1000] },
    forward: { name: "forward", port: spec.forwardPort, get: (p) => `GET http://${upstream}${p} HTTP/1.1\r\nHost: ${upstream}\r\n\r\n`, life: [1, 1000] },
    tunnel: {
      name: "tunnel",
      port: spec.forwardPort,
      connect: `CONNECT ${upstream} HTTP/1.1\r\nHost: ${upstream}\r\n\r\n`,
      get: (p) => `GET ${p} HTTP/1.1\r\nHost: ${upstream}\r\n\r\n`,
      life: [1, 20],
    },
  };
}

/** The newest generation of the secret and of the routes, as announced, and from when responses must carry it. */
class Generations {
  readonly #due = new Map<string, { value: number; from: number }>();

  announce(name: string, value: number, graceMs: number): void {
    this.#due.set(name, { value, from: performance.now() + graceMs });
  }

  /** Why `seen` is wrong for a request sent at `sentAt`, or undefined. */
  problem(name: string, seen: string | undefined, sentAt: number): string | undefined {
    if (seen === undefined || !/^\d+$/.test(seen)) return `${name}: ${seen === undefined ? "missing" : `not a generation: ${JSON.stringify(seen.slice(0, 40))}`}`;
    const due = this.#due.get(name);
    return due && sentAt >= due.from && Number(seen) < due.value ? `${name}: stale generation ${seen} (${due.value} was written)` : undefined;
  }
}

/** The counts of one interval. */
class Tally {
  #stats = Tally.#empty();
  #latency = new Histogram();

  static #empty() {
    return { requests: 0, ok: 0, late: 0, tunnels: 0, expected: {} as Record<string, number>, unexpected: {} as Record<string, number>, examples: [] as string[] };
  }

  ok(ms: number): void {
    this.#stats.requests++;
    this.#stats.ok++;
    this.#latency.record(ms);
  }

  expected(kind: string, ms?: number): void {
    this.#stats.requests++;
    this.#stats.expected[kind] = (this.#stats.expected[kind] ?? 0) + 1;
    if (ms !== undefined) this.#latency.record(ms);
  }

  unexpected(kind: string, detail: string): void {
    this.#stats.requests++;
    this.#stats.unexpected[kind] = (this.#stats.unexpected[kind] ?? 0) + 1;
    if (this.#stats.examples.length < EXAMPLES) this.#stats.examples.push(`${kind}: ${detail}`.slice(0, 300));
  }

  late(n: number): void {
    this.#stats.late += n;
  }

  tunnel(): void {
    this.#stats.tunnels++;
  }

  /** This interval's counts, and a fresh interval begins. */
  take(kind: Kind): KindStats {
    const out: KindStats = { kind, ...this.#stats, latency: this.#latency.toJSON() };
    this.#stats = Tally.#empty();
    this.#latency = new Histogram();
    return out;
  }
}

/** Opens a connection through `door`: for a tunnel, CONNECT first, which must be answered 200. */
async function openThrough(door: Door, tally: Tally): Promise<Connection> {
  const conn = await Connection.open(door.port);
  if (!door.connect) return conn;
  const reply = await conn.exchange(door.connect, { noBody: true });
  if (reply.status !== 200) {
    conn.close();
    throw new Error(`CONNECT answered ${reply.status} ${header(reply.head, "x-sallyport-error") ?? ""}`.trim());
  }
  tally.tunnel();
  return conn;
}

/** A lane of a keep-alive kind: its connection, and how many more requests it takes. */
interface Lane {
  conn?: Connection;
  left: number;
}

/**
 * One GET /flaky on the lane's connection (a new one when it has none), sorted into ok,
 * expected (the upstream's injected failures) and unexpected.
 */
async function oneRequest(door: Door, lane: Lane, tally: Tally, gens: Generations): Promise<void> {
  const t0 = performance.now();
  let opening = !lane.conn || lane.conn.closed;
  try {
    if (opening) {
      lane.conn = await openThrough(door, tally);
      lane.left = random(...door.life);
      opening = false;
    }
    const conn = lane.conn!;
    const sent = performance.now();
    const reply = await conn.exchange(door.get(FLAKY_PATH));
    if (--lane.left <= 0 || /close/i.test(header(reply.head, "connection") ?? "")) conn.close();
    const verdict = judge(door, reply, gens, sent);
    if (verdict === undefined) tally.ok(performance.now() - sent);
    else if ("expected" in verdict) tally.expected(verdict.expected, performance.now() - sent);
    else tally.unexpected(verdict.unexpected, verdict.detail);
  } catch (e) {
    lane.conn = undefined;
    // nginx's `return 444` in a tunnel: the upstream closes without a byte, so the proxy closes the tunnel
    if (door.name === "tunnel" && !opening && e instanceof ConnectionClosed && !e.replyStarted) tally.expected("upstream reset (injected)");
    else unexpectedFailure(tally, door.name, e as Error, `${opening ? "opening the connection" : "on an open connection"}, after ${(performance.now() - t0).toFixed(0)} ms`);
  }
}

/** A request that failed outright, grouped by its message with the numbers taken out. */
function unexpectedFailure(tally: Tally, who: string, e: Error, context: string): void {
  tally.unexpected(`${who}: ${e.message.replace(/\d+/g, "N")}`, `${e.message} (${context})`);
}

type Judgement = { expected: string } | { unexpected: string; detail: string } | undefined;

/** What a whole reply to GET /flaky through `door` means; undefined: all is well. */
function judge(door: Door, reply: Reply, gens: Generations, sentAt: number): Judgement {
  const cause = header(reply.head, "x-sallyport-error");
  if (reply.status === 500 && header(reply.head, FAILURE_HEADER) !== undefined) return { expected: "upstream 500 (injected)" };
  if (reply.status === 502 && cause === "connection-reset" && door.name !== "tunnel") return { expected: "upstream reset (injected)" };
  if (reply.status !== 200) return { unexpected: `${door.name}: status ${reply.status}${cause ? ` ${cause}` : ""}`, detail: reply.head.split("\r\n").slice(0, 8).join(" | ") };
  if (reply.bodyBytes !== SMALL_BODY.length) return { unexpected: `${door.name}: body of ${reply.bodyBytes} bytes`, detail: `expected ${SMALL_BODY.length}` };
  const auth = header(reply.head, AUTH_ECHO_HEADER) ?? "";
  if (door.name !== "routed") return auth ? { unexpected: `${door.name}: an Authorization reached the upstream`, detail: auth.slice(0, 40) } : undefined;
  const token = auth.startsWith(`Bearer ${TOKEN_PREFIX}`) ? auth.slice(`Bearer ${TOKEN_PREFIX}`.length) : undefined;
  const problem = gens.problem("secret", token, sentAt) ?? gens.problem("routes", header(reply.head, ROUTES_HEADER), sentAt);
  return problem ? { unexpected: `routed: ${problem.replace(/\d+/g, "N")}`, detail: `${problem}; Authorization seen upstream: ${JSON.stringify(auth.slice(0, 40))}` } : undefined;
}

/** Where in its request a quitter hangs up; through a tunnel also before the tunnel is up. */
const MOMENTS = ["in the request head", "just after the request", "during the body"] as const;
const OPENING = "while the tunnel opens";
type Moment = (typeof MOMENTS)[number] | typeof OPENING;

/** Sends what the client sends up to `moment` and waits a random while there; anything but 200 before the hang-up is thrown. */
async function goUntil(conn: Connection, door: Door, moment: Moment): Promise<void> {
  const request = door.get(SLOW_PATH);
  if (moment === OPENING) {
    conn.write(door.connect!);
    await Bun.sleep(random(0, 3));
  } else if (moment === "in the request head") {
    conn.write(request.slice(0, random(1, request.length - 3)));
    await Bun.sleep(random(0, 50));
  } else if (moment === "just after the request") {
    conn.write(request);
    await Bun.sleep(random(0, 3));
  } else {
    const head = await conn.exchange(request, { headOnly: true });
    if (head.status !== 200) throw new Error(`status ${head.status} ${header(head.head, "x-sallyport-error") ?? ""}`.trim());
    await Bun.sleep(random(0, 500));
  }
}

/**
 * A client that goes away: a new connection through a random door, GET of the slow body, a
 * hang-up at a random moment, FIN or RST. Anything but 200 before the hang-up is unexpected.
 */
async function quitOnce(all: Record<Door["name"], Door>, tally: Tally): Promise<void> {
  const door = pick(Object.values(all));
  const moment = pick<Moment>(door.connect ? [...MOMENTS, OPENING] : MOMENTS);
  const abrupt = Math.random() < 0.5;
  try {
    const conn = moment === OPENING ? await Connection.open(door.port) : await openThrough(door, tally);
    await goUntil(conn, door, moment);
    conn.close(abrupt);
    tally.expected(`client hung up ${moment}`);
  } catch (e) {
    unexpectedFailure(tally, `quitter via ${door.name}`, e as Error, `hanging up ${moment}`);
  }
}

/** Runs `turn` every `intervalMs` (0: back to back) until stopped; `serial`: waits for each turn to end first. */
async function runLane(intervalMs: number, serial: boolean, turn: () => Promise<void>, tally: Tally, stopped: () => boolean): Promise<void> {
  // lanes start spread over one interval, not in step
  let next = performance.now() + Math.random() * intervalMs;
  while (!stopped()) {
    if (intervalMs > 0) {
      const wait = next - performance.now();
      if (wait > 0) await Bun.sleep(wait);
      else if (-wait > LATE_MS) {
        const missed = Math.floor(-wait / intervalMs);
        tally.late(missed);
        next += missed * intervalMs;
      }
      next += intervalMs;
    }
    if (serial) await turn();
    else void turn();
  }
}

async function main(spec: LoadSpec): Promise<void> {
  // quitters do not wait for each other: without a rate they would never yield
  if (spec.kind === "quitter" && !(spec.rate > 0)) throw new Error("quitters need a rate");
  const tally = new Tally();
  const gens = new Generations();
  const all = doors(spec);
  const door = spec.kind === "quitter" ? undefined : all[spec.kind];
  let stop = false;
  const intervalMs = spec.rate > 0 ? (1000 * spec.lanes) / spec.rate : 0;
  for (let i = 0; i < spec.lanes; i++) {
    const lane: Lane = { left: 0 };
    const turn = door ? () => oneRequest(door, lane, tally, gens) : () => quitOnce(all, tally);
    void runLane(intervalMs, door !== undefined, turn, tally, () => stop);
  }
  for await (const line of console) {
    const [command, ...args] = line.trim().split(" ");
    if (command === "tick") process.stdout.write(JSON.stringify(tally.take(spec.kind)) + "\n");
    else if (command === "gen") gens.announce(args[0]!, Number(args[1]), Number(args[2]));
    else if (command === "stop") break;
  }
  stop = true;
  process.exit(0);
}

if (import.meta.main) await main(JSON.parse(process.argv[2] ?? "") as LoadSpec);
