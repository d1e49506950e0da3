/** Opening a tunnel to a checked address over loopback: early bytes, refusals and the dial timeout. */
import { afterEach, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { ProxyError } from "../../src/exchange/errors.ts";
import { clientSocketHandlers, openTunnel, type TunnelClient } from "../../src/tunnel/connect.ts";
import { systemClock } from "../../src/util/clock.ts";
import { FakeClock } from "../support/clock.ts";

const listeners: TCPSocketListener<unknown>[] = [];
afterEach(() => {
  for (const l of listeners.splice(0)) l.stop(true);
});

/** An echo upstream on 127.0.0.1. */
function echo(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, allowHalfOpen: true, socket: { data: (s, b) => void s.write(b), end: (s) => s.shutdown() } });
  listeners.push(l as TCPSocketListener<unknown>);
  return l.port;
}

/** A front whose accepted sockets are handed to `onClient`; returns a connected client of it. */
async function front(onClient: (s: Socket<TunnelClient>) => void) {
  const l = Bun.listen<TunnelClient>({
    hostname: "127.0.0.1",
    port: 0,
    allowHalfOpen: true,
    socket: {
      ...clientSocketHandlers,
      open(s) {
        s.data = { early: [] };
        onClient(s);
      },
    },
  });
  listeners.push(l as TCPSocketListener<unknown>);
  let received = "";
  const { promise: closed, resolve } = Promise.withResolvers<string>();
  const client = await Bun.connect({
    hostname: "127.0.0.1",
    port: l.port,
    allowHalfOpen: true,
    socket: { data: (_s, b) => void (received += new TextDecoder().decode(b)), close: () => resolve(received), end: () => resolve(received) },
  });
  return { client, closed };
}

test("bytes the client sent before the upstream was open go first, then the rest, both ways", async () => {
  const port = echo();
  let accepted: Socket<TunnelClient> | undefined;
  const { client, closed } = await front((s) => (accepted = s));
  client.write("early ");
  // Dial only once the early bytes are held by the front.
  while (!accepted?.data.early.length) await Bun.sleep(1);
  await openTunnel(accepted, { address: "127.0.0.1", port }, { clock: systemClock, timeout: 5_000 });
  client.write("late");
  client.shutdown();
  expect(await closed).toBe("early late");
});

test("a refused connection is 502 dial-failed", async () => {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const closedPort = probe.port;
  probe.stop(true);
  const results: Promise<unknown>[] = [];
  await front((s) => results.push(openTunnel(s, { address: "127.0.0.1", port: closedPort }, { clock: systemClock, timeout: 5_000 }).catch((e) => e)));
  const err = (await results[0]) as ProxyError;
  expect(err).toBeInstanceOf(ProxyError);
  expect([err.status, err.reason]).toEqual([502, "dial-failed"]);
});

test("a connection not open within -timeout-backend is 504 dial-timeout (on the clock)", async () => {
  const port = echo();
  const clock = new FakeClock();
  const results: Promise<unknown>[] = [];
  await front((s) => {
    results.push(openTunnel(s, { address: "127.0.0.1", port }, { clock, timeout: 1_000 }).catch((e) => e));
    // Time runs out before the connect's open callback can run.
    void clock.advance(1_000);
  });
  const err = (await results[0]) as ProxyError;
  expect([err.status, err.reason]).toEqual([504, "dial-timeout"]);
});
