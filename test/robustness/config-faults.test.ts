/**
 * Configuration files broken while the compiled binary serves. Four kinds of file the proxy
 * re-reads — the routes file (-routes-file), a secret file (-credentials-paths, used by a
 * `bearerinjector` route), the egress allow list of the forward port (-egress-allow-file), the
 * TLS certificate and key of -address (-tls-cert/-tls-key) — meet each fault an operator's
 * editor, config management or a busy host can put in their place: garbage, a write cut in half,
 * a write caught after `>` emptied the file, deletion, a file the process may not read, a
 * directory, a FIFO (which must never block a poll), and a process out of file descriptors.
 *
 * Why: none of it may stop the proxy, hang it or leave it serving half of a file, and whatever it
 * does must be in the log, naming the file. What it does is the table below, one row per kind:
 * mostly it keeps serving the last good state; secrets fail closed by design (README "Secrets":
 * the route answers 503 rather than send a request without its token); a deleted routes file
 * takes its routes with it (src/routing/source.ts); and a half-written file the proxy cannot tell
 * from a whole one (a secret has no syntax; an allow list cut after `127.0.0.` is a valid entry)
 * is taken as written — src/egress/lists.ts asks for files to be replaced by rename.
 *
 * Each cell: break the file (SIGHUP where that re-reads, else the 100 ms poll sees it), wait for
 * the log line that says why, send one real request through the proxy and compare what it finds
 * with the table, then put a new good file in place and wait until requests find that state. One
 * proxy per kind (`-workers 1`, so a logged reload is the state every request sees) goes through
 * the faults in turn; each cell starts by making sure the last good state serves.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect as tlsConnect } from "node:tls";
import { chmod, lstat, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from "node:fs/promises";
import { readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import type { Socket } from "bun";
import { ONE_PROCESS, rememberSecret, startProxy, type RunningProxy } from "../support/binary.ts";
import { curl } from "../support/curl.ts";
import { signCertificate, type SignedCertificate } from "../support/forward-tls.ts";
import { makeTestPki, type TestPki } from "../support/tls.ts";

/** How long a log line, a response or a recovery may take on a busy two-core machine. */
const PATIENCE_MS = 15_000;
const CELL_TIMEOUT_MS = 60_000;

// ---------------------------------------------------------------------------------------------
// What is being broken: a running proxy with one file under test
// ---------------------------------------------------------------------------------------------

/** A proxy serving from the file the faults are put in place of. States are numbered 0, 1, 2, … */
interface Subject {
  readonly proxy: RunningProxy;
  /** the file the faults replace */
  readonly file: string;
  /** what `file` holds in good state `state` (a truncated write is half of the next one) */
  text(state: number): Promise<string>;
  /** puts good state `state` in place, every file of it replaced by rename */
  install(state: number): Promise<void>;
  /** one real request (two for the allow list) through the proxy, described: `200 v3` */
  observe(): Promise<string>;
  /** what {@link observe} finds in good state `state` */
  expected(state: number): string;
  /** asks the proxy to read again now where SIGHUP does (routes, secrets); the others poll every 100 ms */
  reread(): void;
  stop(): Promise<void>;
}

/** A fresh directory for a subject: its files in `<root>/<sub>/`, new texts written in `<root>` first. */
async function workspace(sub: string): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "sallyport-config-faults-"));
  await mkdir(join(root, sub));
  return join(root, sub);
}

let staged = 0;

/**
 * Replaces `path` whole by rename with what `make` creates at a staging path, so the proxy reads
 * the old file or the new thing, never a file missing or half made in between (a missing routes
 * file takes its routes with it; a fault's text is exactly what it reads). The staging path is
 * beside the subject's directory, not in it: a file appearing in a secrets directory would be a
 * secret of its own.
 */
async function replaceWith(path: string, make: (staging: string) => Promise<void>): Promise<void> {
  const staging = join(dirname(dirname(path)), `.${basename(path)}.${++staged}`);
  await make(staging);
  // rename cannot put a file over a directory (the directory fault leaves one there).
  if ((await lstat(path).catch(() => undefined))?.isDirectory()) await rm(path, { recursive: true });
  await rename(staging, path);
}

const replaceFile = (path: string, content: string | Uint8Array) => replaceWith(path, (staging) => writeFile(staging, content));

/**
 * Runs `steps` with the proxy stopped (SIGSTOP … SIGCONT), for a change no rename can make at
 * once: no poll can see the state between two steps.
 */
async function whilePaused(proxy: RunningProxy, steps: () => Promise<void>): Promise<void> {
  proxy.proc.kill("SIGSTOP");
  try {
    await steps();
  } finally {
    proxy.proc.kill("SIGCONT");
  }
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** A RegExp whose literal parts are regex, whose RegExp values are inserted as they are and whose other values (paths) match as written. */
const re = (parts: TemplateStringsArray, ...values: unknown[]): RegExp =>
  new RegExp(parts.raw.reduce((pattern, part, i) => {
    const value = values[i - 1];
    return pattern + (value instanceof RegExp ? value.source : escapeRegExp(String(value))) + part;
  }));

/** The first line the proxy logged after its `since`-th line that matches; polls the pipe's lines. */
async function logAfter(proxy: RunningProxy, since: number, pattern: RegExp): Promise<string> {
  const deadline = Date.now() + PATIENCE_MS;
  for (;;) {
    const line = proxy.logs.slice(since).find((l) => pattern.test(l));
    if (line !== undefined) return line;
    if (proxy.proc.exitCode !== null) throw new Error(`sallyport exited with ${proxy.proc.exitCode} before logging ${pattern}; logs:\n${proxy.logs.join("\n")}`);
    if (Date.now() > deadline) throw new Error(`no log line matching ${pattern} within ${PATIENCE_MS} ms; logs since:\n${proxy.logs.slice(since).join("\n")}`);
    await Bun.sleep(20);
  }
}

/** What {@link Subject.observe} finds, or how the request failed (a refused handshake, a reset). */
const observe = (subject: Subject): Promise<string> => subject.observe().catch((e: NodeJS.ErrnoException) => `no answer: ${e.code ?? e.message}`);

/** Observes until `subject` is in good state `state`: the proxy picks a file up on its own time. */
async function untilServing(subject: Subject, state: number): Promise<void> {
  const want = subject.expected(state);
  const deadline = Date.now() + PATIENCE_MS;
  let seen = "";
  while (Date.now() < deadline) {
    seen = await observe(subject);
    if (seen === want) return;
    await Bun.sleep(50);
  }
  throw new Error(`still ${JSON.stringify(seen)}, not ${JSON.stringify(want)}, after ${PATIENCE_MS} ms; logs:\n${subject.proxy.logs.slice(-30).join("\n")}`);
}

const signal = () => AbortSignal.timeout(PATIENCE_MS);

/** `200 <body>`, or the status and the proxy's `X-Sallyport-Error` for an answer of its own. */
async function describeResponse(res: Response): Promise<string> {
  const body = await res.text();
  return res.status === 200 ? `200 ${body}` : `${res.status} ${res.headers.get("x-sallyport-error") ?? body}`;
}

// ---------------------------------------------------------------------------------------------
// The four kinds of file
// ---------------------------------------------------------------------------------------------

/** An upstream on 127.0.0.1 that counts the requests it gets. */
interface Upstream {
  readonly port: number;
  readonly hits: () => number;
  stop(): void;
}

function countingUpstream(answer: (req: Request) => string): Upstream {
  let hits = 0;
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => (hits++, new Response(answer(req))) });
  return { port: server.port!, hits: () => hits, stop: () => server.stop(true) };
}

/**
 * A subject whose state one file holds and whose answer to `GET /faults` on -address shows it;
 * SIGHUP re-reads it. With an `upstream` behind the route, an answer of the proxy's own that
 * let the request reach it says so: a refusal must send nothing.
 */
function answeringSubject(proxy: RunningProxy, file: string, text: Subject["text"], expected: Subject["expected"], upstream?: Upstream): Subject {
  return {
    proxy,
    file,
    text,
    expected,
    install: async (state) => replaceFile(file, await text(state)),
    observe: async () => {
      const hitsBefore = upstream?.hits();
      const answer = await describeResponse(await fetch(`${proxy.url}/faults`, { signal: signal() }));
      const reached = hitsBefore !== undefined && upstream!.hits() > hitsBefore;
      return reached && !answer.startsWith("200 ") ? `${answer}, and the upstream got the request` : answer;
    },
    reread: () => proxy.proc.kill("SIGHUP"),
    stop: async () => {
      await proxy.stop();
      upstream?.stop();
    },
  };
}

/** `-routes-file` with one route whose answer names the state: `faults: Path("/faults") -> inlineContent("v3")`. */
async function routesSubject(): Promise<Subject> {
  const file = join(await workspace("routes"), "routes.eskip");
  const text = async (state: number) => `faults: Path("/faults") -> inlineContent("v${state}") -> <shunt>;\n`;
  await writeFile(file, await text(0));
  const proxy = await startProxy([...ONE_PROCESS, "-routes-file", file, "-source-poll-timeout", "100"]);
  return answeringSubject(proxy, file, text, (state) => `200 v${state}`);
}

/** A secret's value as the proxy sends it: one trailing newline trimmed. */
const secretValue = (text: string) => (text.endsWith("\n") ? text.slice(0, -1) : text);

/**
 * A secrets directory as on Kubernetes (`-credentials-paths=DIR`), its `token` injected by
 * `bearerinjector` into requests to an upstream that answers with the Authorization it got.
 */
async function secretSubject(): Promise<Subject> {
  const dir = await workspace("secrets");
  const file = join(dir, "token");
  const salt = crypto.randomUUID().slice(0, 8);
  const token = (state: number) => `faults-token-v${state}-${salt}`;
  const text = async (state: number) => {
    const content = `${token(state)}\n`;
    // Every value the file will hold, a cut one too, must stay out of the proxy's output.
    rememberSecret(content);
    rememberSecret(half(content));
    return content;
  };
  const upstream = countingUpstream((req) => req.headers.get("authorization") ?? "no authorization");
  await writeFile(file, await text(0));
  const route = `faults: Path("/faults") -> bearerinjector("${file}") -> "http://127.0.0.1:${upstream.port}"`;
  // No tick within the test: SIGHUP (and the directory's events) re-read, so what a failed read
  // did to the secret stays to be seen instead of being mended by the next tick.
  const proxy = await startProxy([...ONE_PROCESS, "-inline-routes", route, "-credentials-paths", dir, "-credentials-update-interval", "1h"]);
  return answeringSubject(proxy, file, text, (state) => `200 Bearer ${token(state)}`, upstream);
}

/**
 * `-egress-allow-file` on the forward port, allowing one of two upstreams by `127.0.0.1:PORT`
 * (an IP rule opens exactly that loopback address): A in even states, B in odd ones.
 */
async function allowListSubject(): Promise<Subject> {
  const file = join(await workspace("egress"), "allow.txt");
  const upstreams = ["A", "B"].map((name) => ({ name, upstream: countingUpstream(() => name) }));
  const text = async (state: number) => `127.0.0.1:${upstreams[state % 2]!.upstream.port}\n`;
  await writeFile(file, await text(0));
  const proxy = await startProxy([...ONE_PROCESS, "-forward-address", "127.0.0.1:0", "-egress-allow-file", file, "-source-poll-timeout", "100"]);
  const decision = async ({ name, upstream }: (typeof upstreams)[number]) => {
    const hitsBefore = upstream.hits();
    const res = await curl(["--max-time", String(PATIENCE_MS / 1000), "--noproxy", "", "-x", proxy.forwardUrl!, `http://127.0.0.1:${upstream.port}/`]);
    if (res.status === 200 && res.body === name) return `${name} reached`;
    // A denial is the proxy's own answer: the upstream must not have been dialed for it.
    if (res.headers["x-sallyport-error"] === "egress-denied" && upstream.hits() === hitsBefore) return `${name} denied`;
    return `${name} ${res.status} ${res.headers["x-sallyport-error"] ?? res.stderr}`;
  };
  return {
    proxy,
    file,
    text,
    install: async (state) => replaceFile(file, await text(state)),
    observe: async () => (await Promise.all(upstreams.map(decision))).join(", "),
    expected: (state) => (state % 2 === 0 ? "A reached, B denied" : "A denied, B reached"),
    reread: () => {},
    stop: async () => {
      await proxy.stop();
      for (const { upstream } of upstreams) upstream.stop();
    },
  };
}

let sharedPki: Promise<TestPki> | undefined;
const testPki = () => (sharedPki ??= makeTestPki());

/**
 * -address over TLS: each state is a new key and a certificate for localhost whose CN names the
 * state (`CN=faults-v3`); the faults go to the certificate or to the key, as `faulted` says.
 */
async function tlsSubject(faulted: "cert" | "key"): Promise<Subject> {
  const pki = await testPki();
  const dir = await workspace("tls");
  const files = { cert: join(dir, "tls.crt"), key: join(dir, "tls.key") };
  const pairs = new Map<number, Promise<SignedCertificate>>();
  const pair = (state: number) => {
    if (!pairs.has(state)) pairs.set(state, signCertificate(pki, { subject: `/CN=faults-v${state}`, altNames: ["DNS:localhost"] }));
    return pairs.get(state)!;
  };
  const first = await pair(0);
  await Promise.all([writeFile(files.cert, first.cert), writeFile(files.key, first.key)]);
  const proxy = await startProxy([
    ...ONE_PROCESS,
    "-tls-cert", files.cert,
    "-tls-key", files.key,
    "-source-poll-timeout", "100",
    "-inline-routes", `faults: Path("/faults") -> inlineContent("ok") -> <shunt>`,
  ]);
  return {
    proxy,
    file: files[faulted],
    text: async (state) => (await pair(state))[faulted],
    install: async (state) => {
      const { cert, key } = await pair(state);
      // A poll between the two renames sees a key without its certificate: refused, and the
      // next poll takes the pair.
      await replaceFile(files.key, key);
      await replaceFile(files.cert, cert);
    },
    observe: () => httpsGet(proxy.port, pki.ca, "/faults"),
    expected: (state) => `CN=faults-v${state} 200 ok`,
    reread: () => {},
    stop: async () => void (await proxy.stop()),
  };
}

/** One GET over a new TLS connection verified against `ca`: the served certificate's CN, the status and the body. */
function httpsGet(port: number, ca: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", port, servername: "localhost", ca }, () => {
      const cn = socket.getPeerCertificate().subject?.CN;
      socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
      let answer = "";
      socket.setEncoding("utf8");
      socket.on("data", (chunk: string) => (answer += chunk));
      socket.on("end", () => {
        const [head = "", body = ""] = answer.split("\r\n\r\n");
        resolve(`CN=${cn} ${head.split(" ")[1]} ${body}`);
      });
    });
    socket.setTimeout(PATIENCE_MS, () => socket.destroy(new Error(`no answer from 127.0.0.1:${port} within ${PATIENCE_MS} ms`)));
    socket.on("error", reject);
  });
}

// ---------------------------------------------------------------------------------------------
// The faults
// ---------------------------------------------------------------------------------------------

type FaultName = "garbage" | "truncated" | "emptied" | "deleted" | "unreadable" | "directory" | "fifo" | "fd-exhaustion";

interface Fault {
  readonly name: FaultName;
  /** what is done, for the test's title */
  readonly does: string;
  /**
   * Breaks `subject.file`, whose next good text is `next`. Returns what ends a fault that is not
   * in the file (the descriptors held), called once the proxy has logged it.
   */
  apply(subject: Subject, next: string): Promise<(() => Promise<void>) | void>;
}

/** Bytes no file format here reads: NUL (a control character for a secret), invalid UTF-8, brackets. */
const GARBAGE = Buffer.from("\x00\xff\xfe{{ not [a] config ]] \x07\x1b\n", "latin1");

/**
 * How a file is made unreadable here. Mode 000 stops anyone but root, who reads through it (the
 * tests run as root); then a symlink to itself stands in, which nobody can open (ELOOP), as in
 * test/e2e/secrets.test.ts.
 */
const UNREADABLE = await (async () => {
  const probe = join(await mkdtemp(join(tmpdir(), "sallyport-config-faults-probe-")), "probe");
  await writeFile(probe, "x");
  await chmod(probe, 0o000);
  const rootReadsThrough = await readFile(probe).then(() => true, () => false);
  await rm(dirname(probe), { recursive: true, force: true });
  return rootReadsThrough
    ? // The link names itself once it has been renamed to `path`.
      { code: "ELOOP", apply: (path: string) => replaceWith(path, (staging) => symlink(basename(path), staging)) }
    : { code: "EACCES", apply: (path: string) => chmod(path, 0o000) };
})();

/** What a write cut in the middle leaves. */
const half = (text: string) => text.slice(0, Math.floor(text.length / 2));

/** What a read says of a directory or a FIFO in a file's place (src/util/read-file.ts). */
const NOT_REGULAR = "not a regular file";

const FAULTS: readonly Fault[] = [
  { name: "garbage", does: "replaced by garbage", apply: (s) => replaceFile(s.file, GARBAGE) },
  { name: "truncated", does: "truncated mid-write (half of the next file)", apply: (s, next) => replaceFile(s.file, half(next)) },
  { name: "emptied", does: "emptied (what `>` leaves before the write)", apply: (s) => replaceFile(s.file, "") },
  { name: "deleted", does: "deleted", apply: (s) => rm(s.file) },
  { name: "unreadable", does: `made unreadable (${UNREADABLE.code})`, apply: (s) => UNREADABLE.apply(s.file) },
  // No rename puts a directory over a file.
  { name: "directory", does: "replaced by a directory", apply: (s) => whilePaused(s.proxy, async () => (await rm(s.file), await mkdir(s.file))) },
  {
    name: "fifo",
    does: "replaced by a FIFO nobody writes",
    apply: (s) =>
      replaceWith(s.file, async (staging) => {
        const mkfifo = Bun.spawn(["mkfifo", staging], { stderr: "pipe" });
        if ((await mkfifo.exited) !== 0) throw new Error(`mkfifo ${staging}: ${await new Response(mkfifo.stderr).text()}`);
      }),
  },
  { name: "fd-exhaustion", does: "read while the process is out of file descriptors (EMFILE)", apply: (s) => exhaustDescriptors(s.proxy) },
];

/** Descriptors left free under the lowered limit, then taken by held connections. */
const HEADROOM = 4;

/**
 * Lowers the proxy's open-files limit (soft, `prlimit --pid`) to a few above what it uses, and
 * holds connections to it until every descriptor below the limit is taken, so the next file it
 * opens fails with EMFILE. Returns what closes them and restores the limit.
 */
async function exhaustDescriptors(proxy: RunningProxy): Promise<() => Promise<void>> {
  const pid = proxy.proc.pid;
  // The limit is on descriptor numbers: the lowest free one is what the next open would get.
  const lowestFree = () => {
    const open = new Set(readdirSync(`/proc/${pid}/fd`).map(Number));
    let fd = 0;
    while (open.has(fd)) fd++;
    return fd;
  };
  const softLimit = /^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/limits`, "utf8"))![1]!;
  const limit = lowestFree() + HEADROOM;
  await prlimit(pid, String(limit));
  const held: Socket[] = [];
  const release = async () => {
    for (const socket of held) socket.end();
    await prlimit(pid, softLimit);
  };
  try {
    // More than the headroom: the rest wait in the listen backlog for a descriptor to free up.
    for (let i = 0; i < HEADROOM * 3; i++) held.push(await Bun.connect({ hostname: "127.0.0.1", port: proxy.port, socket: { data() {}, error() {} } }));
    const deadline = Date.now() + PATIENCE_MS;
    while (lowestFree() < limit) {
      if (Date.now() > deadline) throw new Error(`sallyport still has descriptor ${lowestFree()} free under its limit ${limit}`);
      await Bun.sleep(20);
    }
  } catch (e) {
    await release();
    throw e;
  }
  return release;
}

async function prlimit(pid: number, soft: string): Promise<void> {
  const p = Bun.spawn(["prlimit", `--pid=${pid}`, `--nofile=${soft}:`], { stderr: "pipe" });
  if ((await p.exited) !== 0) throw new Error(`prlimit --pid=${pid} --nofile=${soft}: failed: ${await new Response(p.stderr).text()}`);
}

// ---------------------------------------------------------------------------------------------
// The table: what the proxy does with each fault in each kind of file
// ---------------------------------------------------------------------------------------------

interface Expectation {
  /** what the proxy does, in words (the test's title) */
  readonly outcome: string;
  /** what a request finds once the fault is logged; `old` is the last good state, `next` the text a cut write was cutting */
  observed(subject: Subject, old: number, next: string): string;
  /** the line that says why, naming the file; `old` is the last good state */
  log(subject: Subject, old: number): RegExp;
}

type Log = Expectation["log"];

const keeps = (log: Log): Expectation => ({ outcome: "keeps the last good state", observed: (s, old) => s.expected(old), log });

const SECRET_UNAVAILABLE = "503 secret-unavailable";
const failsClosed = (log: Log): Expectation => ({ outcome: `fails closed (${SECRET_UNAVAILABLE}, nothing sent upstream)`, observed: () => SECRET_UNAVAILABLE, log });

const NO_ROUTE = "404 no-route";

interface Kind {
  readonly name: string;
  start(): Promise<Subject>;
  readonly expect: Readonly<Record<FaultName, Expectation>>;
}

const routeReadFails = (code: string) => keeps((s) => re`error while reading routes file ${s.file}: ${code}; keeping the previous routes`);
const routeParseFails = keeps((s) => re`error while receiving update; keeping the previous routes: ${s.file}:1:\d+`);

const secretReadFails = (code: string) => failsClosed((s) => re`Failed to read secret file: ${s.file}: ${code}"`);
const secretRefused = (reason: string) => failsClosed((s) => re`Invalid secret file, value refused: ${s.file}: ${reason}"`);
const secretRemoved = failsClosed((s) => re`Removed secret file: ${s.file}"`);

/** The allow list and the certificate pair are read through src/util/watched-file.ts, which says this. */
const allowListReadFails = (code: string) => keeps((s) => re`cannot read egress allow list ${s.file}: ${code}; keeping its previous content`);

/** The pair is read as one (cert, then key): the label names the certificate, the reason the file that failed. */
const tlsReadFails = (code: string, file?: "cert") =>
  keeps((s) => re`cannot read TLS certificate ${certOf(s)}: ${file === "cert" ? certOf(s) : s.file}: ${code}; keeping its previous content`);
const certOf = (s: Subject) => join(dirname(s.file), "tls.crt");
const tlsRefused = (reason: RegExp) => keeps((s, old) => re`TLS certificate ${certOf(s)} not taken: ${s.file}: ${reason}; still serving CN=faults-v${old}"`);

const KINDS: readonly Kind[] = [
  {
    name: "routes file (-routes-file)",
    start: routesSubject,
    expect: {
      garbage: routeParseFails,
      truncated: routeParseFails,
      // Nothing tells an emptied file from one emptied on purpose: zero routes, and the line that
      // says so does not name the file.
      emptied: { outcome: "takes it: no routes", observed: () => NO_ROUTE, log: () => re`route settings applied, 0 routes, 0 invalid"` },
      // src/routing/source.ts: a file that is gone takes its routes with it.
      deleted: { outcome: "removes the file's routes", observed: () => NO_ROUTE, log: (s) => re`routes file ${s.file} is gone; its routes are removed` },
      unreadable: routeReadFails(UNREADABLE.code),
      directory: routeReadFails(NOT_REGULAR),
      fifo: routeReadFails(NOT_REGULAR),
      "fd-exhaustion": routeReadFails("EMFILE"),
    },
  },
  {
    name: "secret file (-credentials-paths, bearerinjector)",
    start: secretSubject,
    expect: {
      garbage: secretRefused("contains a control character (0x00)"),
      // A secret has no syntax: half a token is a token. Kubernetes swaps secrets by rename.
      truncated: { outcome: "takes it: half the token is sent", observed: (_, __, next) => `200 Bearer ${secretValue(half(next))}`, log: (s) => re`Updated secret file: ${s.file}"` },
      emptied: secretRefused("empty"),
      deleted: secretRemoved,
      unreadable: secretReadFails(UNREADABLE.code),
      // A directory in a secrets directory is skipped (Kubernetes' ..data): the secret is gone.
      directory: secretRemoved,
      fifo: secretReadFails(NOT_REGULAR),
      // The directory cannot be listed: the refresh is abandoned and every value kept.
      "fd-exhaustion": keeps((s) => re`Failed to refresh secrets, keeping the previous values: cannot list directory ${dirname(s.file)}: EMFILE"`),
    },
  },
  {
    name: "egress allow list (-egress-allow-file)",
    start: allowListSubject,
    expect: {
      garbage: keeps((s) => re`egress allow list ${s.file} has 1 invalid line\(s\); keeping its previous 1 entries`),
      // `127.0.0.1:PORT` cut in half is `127.0.0.`, a valid entry (127.0.0.0): the list becomes it.
      truncated: { outcome: "takes it: the half entry 127.0.0. (127.0.0.0) denies both", observed: () => "A denied, B denied", log: (s) => re`egress allow list ${s.file}: 1 entries` },
      emptied: keeps((s) => re`${s.file}: no entries: an empty allow list would allow every destination`),
      deleted: allowListReadFails("ENOENT"),
      unreadable: allowListReadFails(UNREADABLE.code),
      directory: allowListReadFails(NOT_REGULAR),
      fifo: allowListReadFails(NOT_REGULAR),
      "fd-exhaustion": allowListReadFails("EMFILE"),
    },
  },
  ...(["cert", "key"] as const).map((faulted): Kind => {
    // What src/tls/serving.ts says of a file that is there but holds no certificate, or no key.
    const notPem = tlsRefused(faulted === "cert" ? /no PEM certificate/ : /not a PEM private key \(\w+\)/);
    return {
      name: `TLS ${faulted === "cert" ? "certificate (-tls-cert)" : "key (-tls-key)"} of -address`,
      start: () => tlsSubject(faulted),
      expect: {
        garbage: notPem,
        truncated: notPem,
        emptied: notPem,
        deleted: tlsReadFails("ENOENT"),
        unreadable: tlsReadFails(UNREADABLE.code),
        directory: tlsReadFails(NOT_REGULAR),
        fifo: tlsReadFails(NOT_REGULAR),
        // Out of descriptors, the first file of the pair already fails: the certificate.
        "fd-exhaustion": tlsReadFails("EMFILE", "cert"),
      },
    };
  }),
];

// ---------------------------------------------------------------------------------------------
// The cells
// ---------------------------------------------------------------------------------------------

for (const kind of KINDS) {
  describe(kind.name, () => {
    let subject: Subject;
    /** the last good state put in place */
    let state = 0;

    beforeAll(async () => {
      subject = await kind.start();
      expect(await observe(subject)).toBe(subject.expected(0));
    }, CELL_TIMEOUT_MS);

    afterAll(async () => {
      if (!subject) return;
      await subject.stop();
      await rm(dirname(dirname(subject.file)), { recursive: true, force: true });
    });

    for (const fault of FAULTS) {
      const expectation = kind.expect[fault.name];
      test(
        `${fault.does}: ${expectation.outcome}; a good file is picked up again`,
        async () => {
          const { proxy } = subject;
          const old = state;
          // Whatever an earlier cell left behind, this one starts from a good state.
          await subject.install(old);
          await untilServing(subject, old);

          const next = await subject.text(old + 1);
          const since = proxy.logs.length;
          const end = await fault.apply(subject, next);
          try {
            subject.reread();
            await logAfter(proxy, since, expectation.log(subject, old));
          } finally {
            await end?.();
          }
          expect(await observe(subject)).toBe(expectation.observed(subject, old, next));
          expect(proxy.proc.exitCode).toBeNull();

          await subject.install(old + 1);
          subject.reread();
          await untilServing(subject, old + 1);
          state = old + 1;
        },
        CELL_TIMEOUT_MS,
      );
    }
  });
}
