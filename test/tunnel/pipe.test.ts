/**
 * Tunnels over real loopback sockets: a relay built from Flow/Tunnel between a client and an
 * upstream, both ours. Backpressure, half-close both ways, and a client that vanishes.
 */
import { afterEach, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { Tunnel } from "../../src/tunnel/pipe.ts";

const servers: TCPSocketListener<unknown>[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.stop(true);
});

interface Relayed {
  tunnel?: Tunnel;
  upstream?: Socket<Relayed>;
  early: Uint8Array[];
}

/** A relay on 127.0.0.1 that tunnels every connection to `upstreamPort`. */
function relay(upstreamPort: number, events: { closed: number; maxQueued: number }) {
  const listener = Bun.listen<Relayed>({
    hostname: "127.0.0.1",
    port: 0,
    allowHalfOpen: true,
    socket: {
      open(client) {
        client.data = { early: [] };
        void Bun.connect<Relayed>({
          hostname: "127.0.0.1",
          port: upstreamPort,
          allowHalfOpen: true,
          socket: {
            open(upstream) {
              upstream.data = client.data;
              const tunnel = new Tunnel(client, upstream, () => events.closed++);
              client.data.tunnel = tunnel;
              client.data.upstream = upstream;
              for (const chunk of client.data.early) tunnel.up.push(chunk);
            },
            data(_u, chunk) {
              const t = client.data.tunnel!;
              t.down.push(chunk);
              events.maxQueued = Math.max(events.maxQueued, t.down.queued);
            },
            drain: () => client.data.tunnel?.up.drain(),
            end: () => client.data.tunnel?.down.end(),
            close: () => client.data.tunnel?.abort(),
            error: () => client.data.tunnel?.abort(),
          },
        });
      },
      data(client, chunk) {
        if (client.data.tunnel) client.data.tunnel.up.push(chunk);
        else client.data.early.push(chunk.slice());
      },
      drain: (client) => client.data.tunnel?.down.drain(),
      end: (client) => client.data.tunnel?.up.end(),
      close: (client) => client.data.tunnel?.abort(),
      error: (client) => client.data.tunnel?.abort(),
    },
  });
  servers.push(listener as TCPSocketListener<unknown>);
  return listener.port;
}

function listen<T>(socket: Parameters<typeof Bun.listen<T>>[0]["socket"]) {
  const l = Bun.listen<T>({ hostname: "127.0.0.1", port: 0, allowHalfOpen: true, socket });
  servers.push(l as TCPSocketListener<unknown>);
  return l.port;
}

test("half-close both ways: each FIN is passed on after the bytes before it", async () => {
  const seen = { upData: "", upEnded: false };
  const upstreamPort = listen<undefined>({
    data(_s, b) {
      seen.upData += new TextDecoder().decode(b);
    },
    end(s) {
      seen.upEnded = true;
      // The client said it is done; answer, then close our side too.
      s.write("pong");
      s.shutdown();
    },
  });
  const events = { closed: 0, maxQueued: 0 };
  const port = relay(upstreamPort, events);
  const { promise: clientEnded, resolve } = Promise.withResolvers<string>();
  let got = "";
  const client = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    allowHalfOpen: true,
    socket: {
      data(_s, b) {
        got += new TextDecoder().decode(b);
      },
      end: () => resolve(got),
      close: () => resolve(got),
    },
  });
  client.write("ping");
  client.shutdown();
  expect(await clientEnded).toBe("pong");
  expect(seen).toEqual({ upData: "ping", upEnded: true });
  for (let i = 0; i < 100 && events.closed === 0; i++) await Bun.sleep(5);
  expect(events.closed).toBe(1);
});

test("a slow reader slows the writer down: what waits in the relay stays bounded", async () => {
  const TOTAL = 64 * 1024 * 1024;
  const chunk = new Uint8Array(256 * 1024);
  let sent = 0;
  // The upstream writes as fast as its socket takes, honouring its own backpressure.
  const pump = (s: Socket<undefined>) => {
    while (sent < TOTAL) {
      const want = Math.min(chunk.length, TOTAL - sent);
      const n = s.write(chunk.subarray(0, want));
      if (n <= 0) return;
      sent += n;
      if (n < want) return; // the rest when the socket drains
    }
    s.shutdown();
  };
  const upstreamPort = listen<undefined>({ open: pump, drain: pump, data() {} });
  const events = { closed: 0, maxQueued: 0 };
  const port = relay(upstreamPort, events);
  let received = 0;
  const { promise: done, resolve } = Promise.withResolvers<void>();
  const client = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    allowHalfOpen: true,
    socket: {
      data(s, b) {
        received += b.length;
        // Read in bursts: stop for a moment every 4 MiB.
        if (received % (4 * 1024 * 1024) < b.length) {
          s.pause();
          setTimeout(() => s.resume(), 20);
        }
      },
      end: () => resolve(),
      close: () => resolve(),
    },
  });
  await done;
  client.end();
  expect(received).toBe(TOTAL);
  // Without the pause/resume this queue would hold most of the 64 MiB.
  expect(events.maxQueued).toBeLessThan(8 * 1024 * 1024);
}, 30_000);

test("a client that vanishes mid-tunnel frees the upstream socket too", async () => {
  const { promise: upstreamClosed, resolve } = Promise.withResolvers<void>();
  const upstreamPort = listen<undefined>({
    open(s) {
      s.write("hello");
    },
    data() {},
    close: () => resolve(),
  });
  const events = { closed: 0, maxQueued: 0 };
  const port = relay(upstreamPort, events);
  const { promise: greeted, resolve: greet } = Promise.withResolvers<void>();
  const client = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data: () => greet() } });
  await greeted;
  client.terminate();
  await upstreamClosed;
  expect(events.closed).toBe(1);
});
