/**
 * CONNECT tunnels on the forward port, end to end against the compiled binary, with raw TCP
 * clients and upstreams on 127.0.0.1: 1 GiB each way to a slow reader with the proxy's memory
 * bounded (backpressure), half-close both ways, 1,000 tunnels at once, a client that vanishes,
 * an upstream that resets or closes after the 200, the refusals before the 200 (403, 502, 400,
 * 431, 408), early bytes, no CONNECT behind a relayed request, `-timeout-backend` on a dial that
 * never completes (504), and SIGTERM with a tunnel open.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import { ONE_PROCESS, startProxy, type RunningProxy } from "../support/binary.ts";

const HOST = "127.0.0.1";
const ESTABLISHED = "HTTP/1.1 200 Connection Established\r\n\r\n";

/** The flags every proxy here needs: a forward port, loopback allowed, CONNECT to `ports`; one process, whose fds are counted. */
function tunnelArgs(ports: readonly number[], ...extra: string[]): string[] {
  return [...ONE_PROCESS, "-forward-address", `${HOST}:0`, "-egress-allow-private", "-connect-ports", ports.join(","), ...extra];
}

/**
 * A proxy with {@link tunnelArgs}, killed outright when disposed: a SIGTERM would wait up to 30 s
 * for tunnels a failed test left open (the drain test sends its own SIGTERM).
 */
async function tunnelProxy(ports: readonly number[], ...extra: string[]): Promise<RunningProxy> {
  const proxy = await startProxy(tunnelArgs(ports, ...extra));
  return Object.assign(proxy, {
    async [Symbol.asyncDispose]() {
      proxy.proc.kill("SIGKILL");
      await proxy.proc.exited;
    },
  });
}

const connectHead = (port: number, extra = "") => `CONNECT ${HOST}:${port} HTTP/1.1\r\nHost: ${HOST}:${port}\r\n${extra}\r\n`;

// ---------------------------------------------------------------------------------------------
// Raw sockets that remember what they got

/** One end of a TCP connection (ours): what it received, whether the peer sent FIN or closed. */
class Peer {
  readonly chunks: Buffer[] = [];
  received = 0;
  ended = false;
  closed = false;
  error: Error | undefined;
  /** what to do with each chunk besides keeping it */
  onBytes: (chunk: Uint8Array) => void = () => {};
  /** what to do on the peer's FIN besides noting it */
  onFin: () => void = () => {};
  /** what to do when the socket drains, after sending what {@link send} queued */
  onDrain: () => void = () => {};
  readonly #pending: Uint8Array[] = [];
  #waiters = new Set<() => void>();

  constructor(public socket: Socket<Peer>) {}

  /** Writes all of `data`, in order, whatever the socket takes at once: the rest waits for drain. */
  send(data: string | Uint8Array): void {
    const bytes = typeof data === "string" ? Buffer.from(data, "latin1") : data;
    if (this.#pending.length > 0) return void this.#pending.push(bytes);
    const written = this.socket.write(bytes);
    if (written >= 0 && written < bytes.length) this.#pending.push(bytes.subarray(written));
  }

  /** Nothing queued by {@link send} is waiting. */
  get flushed(): boolean {
    return this.#pending.length === 0;
  }

  handleData(chunk: Uint8Array): void {
    this.chunks.push(Buffer.from(chunk));
    this.received += chunk.length;
    this.onBytes(chunk);
    this.#notify();
  }
  handleEnd(): void {
    this.ended = true;
    this.onFin();
    this.#notify();
  }
  handleClose(err?: Error): void {
    this.closed = true;
    this.error ??= err;
    this.#notify();
  }
  handleDrain(): void {
    while (this.#pending.length > 0) {
      const head = this.#pending[0]!;
      const written = this.socket.write(head);
      if (written < 0) return;
      if (written < head.length) return void (this.#pending[0] = head.subarray(written));
      this.#pending.shift();
    }
    this.onDrain();
    this.#notify();
  }

  /** everything received, as latin1 text */
  text(): string {
    return Buffer.concat(this.chunks).toString("latin1");
  }

  /** Resolves once `cond` holds (checked on every event); rejects after `ms` saying what was seen. */
  until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!cond()) return;
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`${what}: not within ${ms} ms (ended=${this.ended} closed=${this.closed}); received ${JSON.stringify(this.text().slice(0, 400))}`));
      }, ms);
      this.#waiters.add(check);
    });
  }

  untilText(needle: string, ms?: number): Promise<void> {
    return this.until(() => this.text().includes(needle), `waiting for ${JSON.stringify(needle.slice(0, 80))}`, ms);
  }
  untilClosed(ms?: number): Promise<void> {
    return this.until(() => this.closed, "waiting for the connection to close", ms);
  }
  untilEnded(ms?: number): Promise<void> {
    return this.until(() => this.ended || this.closed, "waiting for FIN", ms);
  }

  #notify(): void {
    for (const w of [...this.#waiters]) w();
  }
}

const peerHandlers = {
  data: (s: Socket<Peer>, chunk: Uint8Array) => s.data.handleData(chunk),
  end: (s: Socket<Peer>) => s.data.handleEnd(),
  close: (s: Socket<Peer>, err?: Error) => s.data.handleClose(err),
  error: (s: Socket<Peer>, err: Error) => s.data.handleClose(err),
  drain: (s: Socket<Peer>) => s.data.handleDrain(),
};

/** A half-open-capable raw client of `port`. */
async function connectRaw(port: number): Promise<Peer> {
  let peer!: Peer;
  const socket = await Bun.connect<Peer>({
    hostname: HOST,
    port,
    allowHalfOpen: true,
    socket: {
      ...peerHandlers,
      open(s) {
        peer = new Peer(s);
        s.data = peer;
      },
    },
  });
  peer.socket = socket;
  return peer;
}

/** Opens a tunnel to `target` on the forward port and waits for the 200 (sending `early` with the head). */
async function openTunnel(forwardPort: number, target: number, early = ""): Promise<Peer> {
  const client = await connectRaw(forwardPort);
  client.send(connectHead(target) + early);
  await client.until(() => client.text().includes("\r\n\r\n") || client.ended || client.closed, "waiting for the answer to CONNECT");
  if (!client.text().startsWith(ESTABLISHED)) throw new Error(`CONNECT ${HOST}:${target} was not established: ${JSON.stringify(client.text())}`);
  return client;
}

/** What a tunnel client got after the 200. */
const afterEstablished = (client: Peer) => client.text().slice(ESTABLISHED.length);

interface Upstream {
  readonly port: number;
  /** every connection accepted, in order */
  readonly peers: Peer[];
  /** connections open right now */
  readonly open: number;
  /** the most open at once */
  readonly maxOpen: number;
  stop(): void;
}

/**
 * A raw TCP upstream: every connection is a Peer, and `behave` (run on open) decides what it does;
 * the default echoes and answers a FIN with a FIN.
 */
function rawUpstream(behave: (peer: Peer) => void = echo): Upstream {
  const peers: Peer[] = [];
  const state = { open: 0, maxOpen: 0 };
  const listener: TCPSocketListener<Peer> = Bun.listen<Peer>({
    hostname: HOST,
    port: 0,
    allowHalfOpen: true,
    socket: {
      ...peerHandlers,
      open(s) {
        const peer = new Peer(s);
        s.data = peer;
        peers.push(peer);
        state.open++;
        state.maxOpen = Math.max(state.maxOpen, state.open);
        behave(peer);
      },
      close(s, err) {
        state.open--;
        s.data.handleClose(err);
      },
    },
  });
  return {
    port: listener.port,
    peers,
    get open() {
      return state.open;
    },
    get maxOpen() {
      return state.maxOpen;
    },
    stop: () => listener.stop(true),
  };
}

/** Echo what comes in; FIN back on FIN (once the echo is out). */
function echo(peer: Peer): void {
  let finPending = false;
  peer.onBytes = (chunk) => peer.send(chunk.slice());
  peer.onFin = () => {
    if (peer.flushed) peer.socket.shutdown();
    else finPending = true;
  };
  peer.onDrain = () => {
    if (finPending) peer.socket.shutdown();
  };
}

/** A loopback port nothing listens on (bound, read, closed). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Polls `cond` every 20 ms for at most `ms`; true when it held. */
async function eventually(cond: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > deadline) return false;
    await Bun.sleep(20);
  }
}

// ---------------------------------------------------------------------------------------------
// Bulk data: a pattern to send and check, a writer that honours short writes, a slow reader

/** Random bytes, doubled, so every window of up to PATTERN bytes at any offset is one subarray. */
const PATTERN = 1_000_003;
const pattern2 = (() => {
  const once = randomBytes(PATTERN);
  return Buffer.concat([once, once]);
})();

/** Checks a byte stream against the pattern, position by position. */
class PatternSink {
  received = 0;
  /** the first offset that differed */
  mismatchAt: number | undefined;

  push(chunk: Uint8Array): void {
    if (this.mismatchAt === undefined) {
      const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      for (let i = 0; i < bytes.length; ) {
        const at = (this.received + i) % PATTERN;
        const n = Math.min(bytes.length - i, PATTERN);
        if (!bytes.subarray(i, i + n).equals(pattern2.subarray(at, at + n))) {
          this.mismatchAt = this.received + i;
          break;
        }
        i += n;
      }
    }
    this.received += chunk.length;
  }
}

/** Writes `total` pattern bytes to a socket as fast as it takes them, waiting for drain on a short write. */
class PatternSource {
  sent = 0;
  /** how often the socket took less than offered: the far end was slowing us down */
  shortWrites = 0;
  #finished = false;

  constructor(
    readonly total: number,
    readonly onDone: () => void,
  ) {}

  /** Call on open and on every drain. */
  pump(socket: { write(b: Uint8Array): number }): void {
    while (this.sent < this.total) {
      const at = this.sent % PATTERN;
      const n = Math.min(PATTERN, this.total - this.sent);
      const written = socket.write(pattern2.subarray(at, at + n));
      if (written < 0) return;
      this.sent += written;
      if (written < n) {
        this.shortWrites++;
        return;
      }
    }
    if (!this.#finished) {
      this.#finished = true;
      this.onDone();
    }
  }
}

/**
 * Reads at about `bytesPerSecond`, and stops reading altogether for `stallMs` after every
 * `stallEvery` bytes: between stalls the socket is paused whenever it is ahead of its schedule.
 */
class SlowReader {
  #start = performance.now();
  #stalledMs = 0;
  #nextStall: number;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly bytesPerSecond: number,
    readonly stallEvery: number,
    readonly stallMs: number,
  ) {
    this.#nextStall = stallEvery;
  }

  /** After taking in data: total `received` so far. */
  after(socket: { pause(): unknown; resume(): unknown }, received: number): void {
    if (this.#timer !== undefined) return;
    let waitMs = 0;
    if (received >= this.#nextStall) {
      this.#nextStall += this.stallEvery;
      this.#stalledMs += this.stallMs;
      waitMs = this.stallMs;
    } else {
      const due = this.#start + this.#stalledMs + (received / this.bytesPerSecond) * 1000;
      waitMs = due - performance.now();
    }
    if (waitMs < 2) return;
    socket.pause();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      socket.resume();
    }, waitMs);
  }

  cancel(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }
}

/** The proxy's resident memory, MB: now and its peak so far. */
function memoryMb(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)![1]);
  return { rss: kb("VmRSS") / 1024, hwm: kb("VmHWM") / 1024 };
}

function sampleMemory(pid: number): { stop(): { maxRss: number; hwm: number } } {
  let maxRss = 0;
  const timer = setInterval(() => (maxRss = Math.max(maxRss, memoryMb(pid).rss)), 50);
  return {
    stop() {
      clearInterval(timer);
      const now = memoryMb(pid);
      return { maxRss: Math.max(maxRss, now.rss), hwm: now.hwm };
    },
  };
}

const openFds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;
/** The slow reader's pace: 1 GiB in about 6 s, plus four 300 ms stalls. */
const SLOW_RATE = 200 * 1000 * 1000;
const STALL_EVERY = 256 * MiB;
const STALL_MS = 300;

// ---------------------------------------------------------------------------------------------

describe("backpressure: 1 GiB through a tunnel to a slow reader", () => {
  test(
    "download: the upstream writes as fast as it can, the client reads slowly, the proxy stays under 100 MB",
    async () => {
      let upstreamSource: PatternSource | undefined;
      const upstream = Bun.listen<{ source: PatternSource }>({
        hostname: HOST,
        port: 0,
        allowHalfOpen: true,
        socket: {
          open(s) {
            s.data = { source: new PatternSource(GiB, () => s.shutdown()) };
            upstreamSource = s.data.source;
            s.data.source.pump(s);
          },
          drain: (s) => s.data.source.pump(s),
          data() {},
        },
      });
      await using proxy = await tunnelProxy([upstream.port]);
      const memory = sampleMemory(proxy.proc.pid);
      const sink = new PatternSink();
      const reader = new SlowReader(SLOW_RATE, STALL_EVERY, STALL_MS);
      const done = Promise.withResolvers<void>();
      let head = "";
      const started = performance.now();
      try {
        const client = await Bun.connect({
          hostname: HOST,
          port: proxy.forwardPort!,
          allowHalfOpen: true,
          socket: {
            open(s) {
              s.write(connectHead(upstream.port));
            },
            data(s, chunk) {
              if (head.length < ESTABLISHED.length) {
                const take = Math.min(ESTABLISHED.length - head.length, chunk.length);
                head += Buffer.from(chunk.subarray(0, take)).toString("latin1");
                chunk = chunk.subarray(take);
                if (head.length === ESTABLISHED.length && head !== ESTABLISHED) done.reject(new Error(`not a 200: ${JSON.stringify(head)}`));
              }
              sink.push(chunk);
              reader.after(s, sink.received);
            },
            end: () => done.resolve(),
            close: () => done.resolve(),
            error: (_s, err) => done.reject(err),
          },
        });
        await done.promise;
        client.terminate();
      } finally {
        reader.cancel();
        upstream.stop(true);
      }
      const seconds = (performance.now() - started) / 1000;
      const { maxRss, hwm } = memory.stop();
      console.log(`tunnel download: ${GiB} bytes in ${seconds.toFixed(1)} s (${(GiB / MiB / seconds).toFixed(0)} MiB/s); proxy VmRSS max ${maxRss.toFixed(1)} MB, VmHWM ${hwm.toFixed(1)} MB; upstream short writes ${upstreamSource?.shortWrites}`);
      expect(head).toBe(ESTABLISHED);
      expect(sink.mismatchAt).toBeUndefined();
      expect(sink.received).toBe(GiB);
      // The slow reader slowed the writer down: the proxy pushed back instead of buffering.
      expect(upstreamSource!.shortWrites).toBeGreaterThan(0);
      expect(hwm).toBeLessThan(100);
    },
    30_000,
  );

  test(
    "upload: the client writes as fast as it can, the upstream reads slowly, the proxy stays under 100 MB",
    async () => {
      const sink = new PatternSink();
      const reader = new SlowReader(SLOW_RATE, STALL_EVERY, STALL_MS);
      const done = Promise.withResolvers<void>();
      const upstream = Bun.listen({
        hostname: HOST,
        port: 0,
        allowHalfOpen: true,
        socket: {
          data(s, chunk) {
            sink.push(chunk);
            reader.after(s, sink.received);
          },
          end: (s) => {
            done.resolve();
            s.shutdown();
          },
          close: () => done.resolve(),
          error: (_s, err) => done.reject(err),
        },
      });
      await using proxy = await tunnelProxy([upstream.port]);
      const memory = sampleMemory(proxy.proc.pid);
      let source!: PatternSource;
      let head = "";
      const started = performance.now();
      try {
        const client = await Bun.connect<undefined>({
          hostname: HOST,
          port: proxy.forwardPort!,
          allowHalfOpen: true,
          socket: {
            open(s) {
              source = new PatternSource(GiB, () => s.shutdown());
              s.write(connectHead(upstream.port));
            },
            data(s, chunk) {
              const wasOpen = head === ESTABLISHED;
              head += Buffer.from(chunk).toString("latin1");
              if (!wasOpen && head.startsWith(ESTABLISHED)) {
                head = ESTABLISHED;
                source.pump(s);
              } else if (!head.startsWith(ESTABLISHED.slice(0, head.length))) done.reject(new Error(`not a 200: ${JSON.stringify(head)}`));
            },
            drain: (s) => {
              if (head === ESTABLISHED) source.pump(s);
            },
            close: () => done.resolve(),
            error: (_s, err) => done.reject(err),
          },
        });
        await done.promise;
        client.terminate();
      } finally {
        reader.cancel();
        upstream.stop(true);
      }
      const seconds = (performance.now() - started) / 1000;
      const { maxRss, hwm } = memory.stop();
      console.log(`tunnel upload: ${sink.received} bytes in ${seconds.toFixed(1)} s (${(sink.received / MiB / seconds).toFixed(0)} MiB/s); proxy VmRSS max ${maxRss.toFixed(1)} MB, VmHWM ${hwm.toFixed(1)} MB; client short writes ${source.shortWrites}`);
      expect(sink.mismatchAt).toBeUndefined();
      expect(sink.received).toBe(GiB);
      expect(source.shortWrites).toBeGreaterThan(0);
      expect(hwm).toBeLessThan(100);
    },
    30_000,
  );
});

describe("half-close", () => {
  test("the client's FIN reaches the upstream, and the upstream's answer still reaches the client", async () => {
    // The upstream answers only once it has the client's FIN: what it got, then its own FIN.
    const upstream = rawUpstream((peer) => {
      peer.onFin = () => {
        peer.send(`got ${peer.received} bytes: ${peer.text()}`);
        peer.socket.shutdown();
      };
    });
    await using proxy = await tunnelProxy([upstream.port]);
    try {
      const client = await openTunnel(proxy.forwardPort!, upstream.port);
      client.send("the whole request");
      client.socket.shutdown();
      const far = upstream.peers[0]!;
      await far.untilEnded();
      expect(far.text()).toBe("the whole request");
      expect(far.closed).toBe(false);
      await client.untilEnded();
      expect(afterEstablished(client)).toBe("got 17 bytes: the whole request");
      // Both ways have ended: the proxy closes both connections.
      await far.untilClosed();
      await client.untilClosed();
    } finally {
      upstream.stop();
    }
  }, 15_000);

  test("the upstream's FIN reaches the client, and the client can keep sending", async () => {
    const upstream = rawUpstream((peer) => {
      peer.send("bye from upstream");
      peer.socket.shutdown();
    });
    await using proxy = await tunnelProxy([upstream.port]);
    try {
      const client = await openTunnel(proxy.forwardPort!, upstream.port);
      await client.untilEnded();
      expect(afterEstablished(client)).toBe("bye from upstream");
      expect(client.closed).toBe(false);
      const far = upstream.peers[0]!;
      // Several rounds after the FIN, each seen by the upstream before the next is sent.
      let expected = "";
      for (let round = 0; round < 5; round++) {
        const part = `still sending ${round};`;
        client.send(part);
        expected += part;
        await far.untilText(expected);
      }
      // A bulk write after the FIN, too (more than one socket buffer's worth).
      const bulk = "x".repeat(4 * MiB);
      client.send(bulk);
      await far.until(() => far.received === expected.length + bulk.length, "the bulk write after the upstream's FIN", 10_000);
      expect(far.ended).toBe(false);
      await client.until(() => client.flushed, "the bulk write out");
      client.socket.shutdown();
      await far.untilEnded();
      await far.untilClosed();
      await client.untilClosed();
    } finally {
      upstream.stop();
    }
  }, 15_000);
});

test("1,000 tunnels at once, each echoing its own payload", async () => {
  const N = 1000;
  const upstream = rawUpstream();
  await using proxy = await tunnelProxy([upstream.port]);
  const started = performance.now();
  const clients: Peer[] = new Array(N);
  const payloads = Array.from({ length: N }, (_, i) => `tunnel ${i} ${randomBytes(48).toString("hex")};`);
  try {
    // At most 100 connecting at a time (the listen backlog), all of them kept open.
    let next = 0;
    const worker = async () => {
      while (next < N) {
        const i = next++;
        const client = await openTunnel(proxy.forwardPort!, upstream.port, payloads[i]!);
        await client.untilText(ESTABLISHED + payloads[i]!, 20_000);
        clients[i] = client;
      }
    };
    await Promise.all(Array.from({ length: 100 }, worker));
    const established = performance.now();
    expect(upstream.open).toBe(N);
    expect(upstream.maxOpen).toBe(N);
    // Each tunnel reached its own upstream connection: the upstream saw each payload exactly once.
    expect(upstream.peers.map((p) => p.text()).sort()).toEqual([...payloads].sort());
    // A second round while all are open: each gets back exactly what it sent, nothing of another's.
    for (let i = 0; i < N; i++) clients[i]!.send(`again ${i};`);
    await Promise.all(clients.map((c, i) => c.untilText(`again ${i};`, 20_000)));
    for (let i = 0; i < N; i++) expect(afterEstablished(clients[i]!)).toBe(`${payloads[i]}again ${i};`);
    const fds = openFds(proxy.proc.pid);
    console.log(`1000 tunnels: established and echoed in ${((established - started) / 1000).toFixed(1)} s, whole test ${((performance.now() - started) / 1000).toFixed(1)} s; proxy fds ${fds}, VmRSS ${memoryMb(proxy.proc.pid).rss.toFixed(1)} MB`);
    expect(fds).toBeGreaterThanOrEqual(2 * N);
    for (const c of clients) c.socket.shutdown();
    await Promise.all(clients.map((c) => c.untilClosed(20_000)));
    expect(await eventually(() => upstream.open === 0, 10_000)).toBe(true);
  } finally {
    for (const c of clients) c?.socket.terminate();
    upstream.stop();
  }
}, 45_000);

/**
 * A proxy in front of an upstream that echoes, FINs back on FIN, and on "stream" writes without
 * end until the connection is gone (a test may reset it, Bun's terminate(): an RST, when it
 * chooses); `baseline` is the proxy's open fds after one tunnel opened and closed, so whatever
 * the first one sets up once is in it.
 */
async function echoingTunnels(): Promise<{ proxy: RunningProxy; upstream: Upstream; baseline: number }> {
  const upstream = rawUpstream((peer) => {
    peer.onFin = () => peer.socket.shutdown();
    peer.onBytes = (chunk) => {
      if (Buffer.from(chunk).toString() !== "stream") return peer.send(chunk.slice());
      const source = new PatternSource(Number.MAX_SAFE_INTEGER, () => {});
      peer.onDrain = () => source.pump(peer.socket);
      source.pump(peer.socket);
    };
  });
  const proxy = await tunnelProxy([upstream.port]);
  const before = openFds(proxy.proc.pid);
  const warm = await openTunnel(proxy.forwardPort!, upstream.port, "warm");
  await warm.untilText("warm");
  warm.socket.shutdown();
  await warm.untilClosed();
  await upstream.peers[0]!.untilClosed();
  // The proxy may close its side a moment after ours has closed.
  await eventually(() => openFds(proxy.proc.pid) <= before, 2000);
  return { proxy, upstream, baseline: openFds(proxy.proc.pid) };
}

describe("a client that vanishes mid-tunnel", () => {
  let proxy: RunningProxy;
  let upstream: Upstream;
  let baseline: number;

  beforeAll(async () => void ({ proxy, upstream, baseline } = await echoingTunnels()));
  afterAll(async () => {
    await proxy?.[Symbol.asyncDispose]();
    upstream?.stop();
  });

  test("reset while idle (RST): the upstream connection is closed and the proxy's fds return to the baseline", async () => {
    const peersBefore = upstream.peers.length;
    const client = net.connect({ host: HOST, port: proxy.forwardPort!, allowHalfOpen: true });
    let got = "";
    client.on("data", (d) => (got += d.toString("latin1")));
    client.on("error", () => {});
    try {
      client.write(connectHead(upstream.port) + "ping");
      expect(await eventually(() => got === ESTABLISHED + "ping", 5000)).toBe(true);
      expect(openFds(proxy.proc.pid)).toBeGreaterThanOrEqual(baseline + 2);
    } finally {
      client.resetAndDestroy();
    }
    const far = upstream.peers[peersBefore]!;
    await far.untilClosed();
    expect(far.ended).toBe(false); // closed by the proxy, not a FIN passed on
    expect(await eventually(() => openFds(proxy.proc.pid) <= baseline, 5000)).toBe(true);
  }, 15_000);

  test("gone in the middle of a download: the upstream connection is closed and the proxy's fds return to the baseline", async () => {
    const peersBefore = upstream.peers.length;
    const client = await openTunnel(proxy.forwardPort!, upstream.port, "stream");
    try {
      await client.until(() => client.received > 8 * MiB, "8 MiB of the download");
      expect(openFds(proxy.proc.pid)).toBeGreaterThanOrEqual(baseline + 2);
    } finally {
      client.socket.terminate();
    }
    const far = upstream.peers[peersBefore]!;
    await far.untilClosed();
    expect(await eventually(() => openFds(proxy.proc.pid) <= baseline, 5000)).toBe(true);
    expect(upstream.open).toBe(0);
  }, 15_000);
});

describe("an upstream that fails mid-tunnel, after the 200", () => {
  let proxy: RunningProxy;
  let upstream: Upstream;
  let baseline: number;

  beforeAll(async () => void ({ proxy, upstream, baseline } = await echoingTunnels()));
  afterAll(async () => {
    await proxy?.[Symbol.asyncDispose]();
    upstream?.stop();
  });

  test("reset while idle (RST): the client's connection is closed, not ended with a FIN, and the proxy's fds return to the baseline", async () => {
    const peersBefore = upstream.peers.length;
    const client = await openTunnel(proxy.forwardPort!, upstream.port, "ping");
    await client.untilText(ESTABLISHED + "ping");
    const far = upstream.peers[peersBefore]!;
    expect(openFds(proxy.proc.pid)).toBeGreaterThanOrEqual(baseline + 2);
    far.socket.terminate();
    await client.untilClosed();
    expect(client.ended).toBe(false); // reset by the proxy, not a clean end passed on
    expect(afterEstablished(client)).toBe("ping");
    expect(await eventually(() => openFds(proxy.proc.pid) <= baseline, 5000)).toBe(true);
    expect(upstream.open).toBe(0);
  }, 15_000);

  test("closed by the upstream (its last bytes and FIN, then gone): the client gets both; its next bytes find the upstream gone, and the proxy closes the client and frees both sockets", async () => {
    const peersBefore = upstream.peers.length;
    const client = await openTunnel(proxy.forwardPort!, upstream.port, "ping");
    await client.untilText(ESTABLISHED + "ping");
    const far = upstream.peers[peersBefore]!;
    // Bun's end() writes, sends FIN and closes the socket: the kernel resets whatever comes after.
    far.socket.end("bye");
    await far.untilClosed();
    await client.untilEnded();
    expect(afterEstablished(client)).toBe("pingbye");
    client.send("anyone there?");
    await client.untilClosed();
    expect(await eventually(() => openFds(proxy.proc.pid) <= baseline, 5000)).toBe(true);
    expect(upstream.open).toBe(0);
  }, 15_000);

  test("reset in the middle of a download: the client's connection is closed and the proxy's fds return to the baseline", async () => {
    const peersBefore = upstream.peers.length;
    const client = await openTunnel(proxy.forwardPort!, upstream.port, "stream");
    await client.until(() => client.received > 8 * MiB, "8 MiB of the download");
    expect(openFds(proxy.proc.pid)).toBeGreaterThanOrEqual(baseline + 2);
    upstream.peers[peersBefore]!.socket.terminate();
    await client.untilClosed();
    expect(await eventually(() => openFds(proxy.proc.pid) <= baseline, 5000)).toBe(true);
    expect(upstream.open).toBe(0);
  }, 15_000);

  test("reset in the middle of an upload: the client's connection is closed and the proxy's fds return to the baseline", async () => {
    const peersBefore = upstream.peers.length;
    const client = await openTunnel(proxy.forwardPort!, upstream.port, "ping");
    await client.untilText(ESTABLISHED + "ping");
    const far = upstream.peers[peersBefore]!;
    // From here the upstream takes the upload in and answers nothing.
    far.onBytes = () => {};
    const source = new PatternSource(Number.MAX_SAFE_INTEGER, () => {});
    client.onDrain = () => source.pump(client.socket);
    try {
      source.pump(client.socket);
      await far.until(() => far.received > 8 * MiB, "8 MiB of the upload");
      expect(openFds(proxy.proc.pid)).toBeGreaterThanOrEqual(baseline + 2);
      far.socket.terminate();
      await client.untilClosed();
    } finally {
      client.socket.terminate();
    }
    expect(await eventually(() => openFds(proxy.proc.pid) <= baseline, 5000)).toBe(true);
    expect(upstream.open).toBe(0);
  }, 15_000);
});

/** An HTTP answer the front wrote: status, headers (lower-case names), body. */
interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function parseAnswer(text: string): Answer {
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) throw new Error(`no complete response head in ${JSON.stringify(text)}`);
  const [statusLine, ...lines] = text.slice(0, end).split("\r\n");
  const status = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine!);
  if (!status) throw new Error(`not a status line: ${JSON.stringify(statusLine)}`);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(status[1]), headers, body: text.slice(end + 4) };
}

/**
 * Sends `bytes` to the forward port, waits for the proxy's FIN, and returns what it answered;
 * checks that the proxy closed the connection rather than only its sending half: a byte written
 * after the FIN must be answered with a reset.
 */
async function refused(forwardPort: number, bytes: string | Uint8Array, ms = 5000): Promise<Answer & { raw: string }> {
  const client = await connectRaw(forwardPort);
  client.send(bytes);
  await client.untilEnded(ms);
  const raw = client.text();
  client.socket.write("?");
  await client.until(() => client.closed, "the reset for a byte sent after the proxy closed");
  return { ...parseAnswer(raw), raw };
}

/** After the proxy's FIN, a byte written is answered with a reset if the proxy closed the socket. */
async function expectClosedByProxy(client: Peer): Promise<void> {
  await client.untilEnded();
  if (!client.closed) client.socket.write("?");
  await client.until(() => client.closed, "the reset for a byte sent after the proxy closed");
}

describe("before the 200", () => {
  let proxy: RunningProxy;
  /** echoes; in -connect-ports */
  let upstream: Upstream;
  /** in -connect-ports, but no test may reach it */
  let trap: Upstream;
  /** listening, but not in -connect-ports */
  let unlisted: Upstream;
  /** in -connect-ports, nothing listening */
  let closed: number;
  /** plain HTTP, reached by a relayed GET */
  let web: ReturnType<typeof Bun.serve>;

  beforeAll(async () => {
    upstream = rawUpstream();
    trap = rawUpstream();
    unlisted = rawUpstream();
    closed = await closedPort();
    web = Bun.serve({ hostname: HOST, port: 0, fetch: (req) => new Response(`web saw ${new URL(req.url).pathname}`) });
    proxy = await tunnelProxy([upstream.port, trap.port, closed], "-forward-head-timeout", "300ms");
  });
  afterAll(async () => {
    await proxy?.[Symbol.asyncDispose]();
    for (const u of [upstream, trap, unlisted]) u?.stop();
    web?.stop(true);
  });

  test("bytes sent right behind the CONNECT head, before the 200, are forwarded, in order and only once", async () => {
    const peersBefore = upstream.peers.length;
    // In the head's own write, then more before the 200 can have come back, then a large
    // write behind them (more than one read of the proxy's).
    const big = randomBytes(256 * 1024).toString("hex");
    const client = await connectRaw(proxy.forwardPort!);
    client.send(connectHead(upstream.port) + "first;");
    client.send("second;");
    client.send(big);
    const expected = "first;second;" + big;
    await client.until(() => client.received >= ESTABLISHED.length + expected.length, "the echo of the early bytes", 10_000);
    expect(client.text()).toBe(ESTABLISHED + expected);
    const far = upstream.peers[peersBefore]!;
    expect(far.text()).toBe(expected);
    client.socket.shutdown();
    await client.untilClosed();
  }, 15_000);

  test("403 connect-port-denied for a port not in -connect-ports, and it is not dialed", async () => {
    const answer = await refused(proxy.forwardPort!, connectHead(unlisted.port) + "early bytes");
    expect(answer.status).toBe(403);
    expect(answer.headers["x-sallyport-error"]).toBe("connect-port-denied");
    expect(answer.headers.connection).toBe("close");
    expect(answer.raw).not.toContain("early bytes");
    expect(unlisted.peers.length).toBe(0);
  });

  test("502 dial-failed for a loopback port nothing listens on", async () => {
    const answer = await refused(proxy.forwardPort!, connectHead(closed));
    expect(answer.status).toBe(502);
    expect(answer.headers["x-sallyport-error"]).toBe("dial-failed");
    expect(answer.body).toContain(`127.0.0.1:${closed}`);
  });

  test("400 for a head that is not HTTP, or a CONNECT without a port", async () => {
    const garbage = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]), randomBytes(64), Buffer.from("\r\n\r\n")]);
    for (const bytes of [garbage, "HELLO\r\n\r\n", `CONNECT ${HOST} HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`, `CONNECT ${HOST}:${upstream.port} HTTP/2.0\r\n\r\n`]) {
      const answer = await refused(proxy.forwardPort!, bytes);
      expect(answer.status).toBe(400);
      expect(answer.headers["x-sallyport-error"]).toBe("bad-request");
    }
  });

  test("431 for a head over 64 KiB", async () => {
    const peersBefore = trap.peers.length;
    const head = `CONNECT ${HOST}:${trap.port} HTTP/1.1\r\nHost: ${HOST}\r\nX-Padding: ${"p".repeat(64 * 1024)}\r\n\r\n`;
    const answer = await refused(proxy.forwardPort!, head);
    expect(answer.status).toBe(431);
    expect(answer.headers["x-sallyport-error"]).toBe("head-too-large");
    expect(trap.peers.length).toBe(peersBefore);
  });

  test("408 when the head is not complete within -forward-head-timeout, then the connection is closed", async () => {
    const peersBefore = trap.peers.length;
    const started = performance.now();
    const answer = await refused(proxy.forwardPort!, `CONNECT ${HOST}:${trap.port} HTTP/1.1\r\nHost: ${HOST}\r\n`, 5000);
    const waited = performance.now() - started;
    expect(answer.status).toBe(408);
    expect(answer.headers["x-sallyport-error"]).toBe("request-timeout");
    // Not answered before the head timeout (300 ms) had passed.
    expect(waited).toBeGreaterThanOrEqual(250);
    expect(trap.peers.length).toBe(peersBefore);
  });

  const getFirst = () => `GET http://${HOST}:${web.port}/first HTTP/1.1\r\nHost: ${HOST}:${web.port}\r\n\r\n`;
  const trapConnect = () => connectHead(trap.port) + "tunnel bytes";
  /** The CONNECT's target was never dialed: no connection reached it, no egress decision named it. */
  const trapUntouched = () => {
    expect(trap.peers.length).toBe(0);
    expect(proxy.logs.some((l) => l.includes(`port=${trap.port} `))).toBe(false);
  };

  test("no CONNECT behind a relayed request on a kept-alive connection: the first answer, then the connection closes", async () => {
    const client = await connectRaw(proxy.forwardPort!);
    client.send(getFirst());
    await client.untilText("web saw /first");
    // Kept alive after the first answer: the CONNECT comes on the same connection.
    expect(client.ended).toBe(false);
    client.send(trapConnect());
    await expectClosedByProxy(client);
    const text = client.text();
    expect(parseAnswer(text).status).toBe(200);
    // Exactly one response: no 200 Connection Established, nothing after the first body.
    expect(text.match(/HTTP\/1\.1 /g)?.length).toBe(1);
    expect(text.endsWith("web saw /first")).toBe(true);
    trapUntouched();
  });

  test("no CONNECT pipelined behind a relayed request: no tunnel, the target is not dialed, the connection closes", async () => {
    const client = await connectRaw(proxy.forwardPort!);
    client.send(getFirst() + trapConnect());
    await expectClosedByProxy(client);
    const text = client.text();
    expect(text).not.toContain("Connection Established");
    expect(text.match(/HTTP\/1\.1 /g)?.length ?? 0).toBeLessThanOrEqual(1);
    trapUntouched();
  });

  // Today the GET's answer is lost too: Bun.serve closes a connection with pipelined requests
  // unanswered (test/e2e/defects.test.ts, "pipelined requests: the connection closes unanswered";
  // oven-sh/bun PRs #38128, #43273); the relay hands the engine the GET and the FIN together.
  test.todo("a CONNECT pipelined behind a relayed GET: the GET is answered before the connection closes");
});

/**
 * A loopback listener whose connects never complete, in a python3 child: it listens with a
 * backlog of 0 and never accepts, then connects to itself until a connect does not complete
 * within 300 ms. With the accept queue full, Linux drops every further SYN (the client only
 * retransmits it), so a dial to the port stays pending. Prints the port; a line on stdin makes it
 * let go of its own connects and accept from then on (a pending dial completes with the SYN's next
 * retransmission); exits when its stdin closes.
 */
const NEVER_ACCEPTS = `
import socket, sys, threading
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(0)
port = listener.getsockname()[1]
queued = []
while True:
    probe = socket.socket()
    probe.settimeout(0.3)
    try:
        probe.connect(("127.0.0.1", port))
    except socket.timeout:
        probe.close()
        break
    queued.append(probe)
    if len(queued) > 64:
        sys.exit("the accept queue never filled")
print(port, flush=True)
def accept():
    while True:
        queued.append(listener.accept()[0])
if sys.stdin.readline():
    for probe in queued[:]:
        probe.close()
    threading.Thread(target=accept, daemon=True).start()
    sys.stdin.read()
`;

/** Starts {@link NEVER_ACCEPTS}; resolves with its port once the queue is full. */
async function neverAccepting(): Promise<{ port: number; accept(): void; stop(): Promise<void> }> {
  const proc = Bun.spawn(["python3", "-c", NEVER_ACCEPTS], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const stop = async () => {
    proc.stdin.end();
    await proc.exited;
  };
  let out = "";
  const decoder = new TextDecoder();
  for await (const bytes of proc.stdout) {
    out += decoder.decode(bytes, { stream: true });
    if (out.includes("\n")) break;
  }
  const port = Number(out.trim());
  if (!Number.isInteger(port) || port <= 0) {
    await stop();
    throw new Error(`the never-accepting listener did not start: ${JSON.stringify(out)} ${await new Response(proc.stderr).text()}`);
  }
  return { port, accept: () => void proc.stdin.write("accept\n"), stop };
}

test("-timeout-backend bounds the CONNECT dial: a destination whose connect never completes is 504 dial-timeout once the flag's 500 ms have passed", async () => {
  const hold = await neverAccepting();
  try {
    await using proxy = await tunnelProxy([hold.port], "-timeout-backend", "500ms");
    const started = performance.now();
    const answer = await refused(proxy.forwardPort!, connectHead(hold.port) + "early bytes");
    const waited = performance.now() - started;
    expect(answer.status).toBe(504);
    expect(answer.headers["x-sallyport-error"]).toBe("dial-timeout");
    expect(answer.headers.connection).toBe("close");
    expect(answer.body).toContain(`${HOST}:${hold.port}`);
    expect(answer.raw).not.toContain("Connection Established");
    // Not before the flag's 500 ms, nor much after (the default, 60 s, would not answer within the test).
    expect(waited).toBeGreaterThanOrEqual(450);
    expect(waited).toBeLessThan(1500);
  } finally {
    await hold.stop();
  }
}, 15_000);

test("a client that resets during the CONNECT's dial: once the dial completes the tunnel is dropped at once, recorded 499 client-gone, not left for -timeout-backend", async () => {
  const hold = await neverAccepting();
  try {
    await using proxy = await tunnelProxy([hold.port], "-timeout-backend", "60s");
    const client = net.connect({ host: HOST, port: proxy.forwardPort! });
    client.on("error", () => {});
    client.write(connectHead(hold.port));
    // The proxy dials at once; its connect waits in the full accept queue.
    await Bun.sleep(200);
    client.resetAndDestroy();
    await Bun.sleep(200);
    hold.accept();
    const line = await proxy.waitForLog(new RegExp(`"CONNECT ${HOST}:${hold.port} HTTP/1.1" \\d+`), 10_000);
    expect(line).toContain(`"CONNECT ${HOST}:${hold.port} HTTP/1.1" 499`);
    expect(proxy.logs.filter((l) => /TypeError|dial-timeout/.test(l))).toEqual([]);
  } finally {
    await hold.stop();
  }
}, 20_000);

test("SIGTERM with a tunnel open: the forward port stops accepting, the tunnel keeps working until it ends, then the process exits 0", async () => {
  const upstream = rawUpstream();
  const proxy = await tunnelProxy([upstream.port]);
  try {
    const client = await openTunnel(proxy.forwardPort!, upstream.port, "before;");
    await client.untilText("before;");
    proxy.proc.kill("SIGTERM");
    await proxy.waitForLog(/SIGTERM: draining/);
    // New connections are refused once the front has stopped listening.
    const refusedNow = await eventually(async () => {
      try {
        const probe = await Bun.connect({ hostname: HOST, port: proxy.forwardPort!, socket: { data() {} } });
        probe.terminate();
        return false;
      } catch (e) {
        return (e as NodeJS.ErrnoException).code === "ECONNREFUSED";
      }
    }, 5000);
    expect(refusedNow).toBe(true);
    // The open tunnel still carries bytes both ways, several rounds, after the port has closed.
    let expected = "before;";
    for (let round = 0; round < 5; round++) {
      const part = `after ${round};`;
      client.send(part);
      expected += part;
      await client.untilText(ESTABLISHED + expected);
    }
    expect(proxy.proc.exitCode).toBeNull();
    // The tunnel ends (FIN both ways): the drain is over, well before the 30 s grace.
    const ended = performance.now();
    client.socket.shutdown();
    await client.untilClosed();
    const code = await Promise.race([proxy.proc.exited, Bun.sleep(10_000).then(() => "still running")]);
    console.log(`drain: exited ${((performance.now() - ended) / 1000).toFixed(2)} s after the last tunnel ended`);
    expect(code).toBe(0);
    expect(proxy.logs.some((l) => /still in flight/.test(l))).toBe(false);
  } finally {
    proxy.proc.kill("SIGKILL");
    upstream.stop();
  }
}, 20_000);
