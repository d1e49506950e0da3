/** Shutdown loses nothing: SIGTERM lets in-flight requests finish, then the process exits 0. */
import { expect, test } from "bun:test";
import { startProxy } from "../support/binary.ts";
import { curl } from "../support/curl.ts";

/** An upstream that answers "finished" once `hold()` resolves; `requestArrived` resolves with its first request. */
function holdingUpstream(hold: () => Promise<unknown>) {
  const { promise: requestArrived, resolve } = Promise.withResolvers<void>();
  const upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch() {
      resolve();
      await hold();
      return new Response("finished");
    },
  });
  return { upstream, requestArrived };
}

test("SIGTERM drains an in-flight request, then exits 0", async () => {
  const { upstream, requestArrived } = holdingUpstream(() => Bun.sleep(700));
  try {
    const proxy = await startProxy(["-inline-routes", `* -> "http://127.0.0.1:${upstream.port}"`]);
    const inflight = curl([proxy.url + "/slow"]);
    await requestArrived;
    proxy.proc.kill("SIGTERM");
    const res = await inflight;
    expect(res.status).toBe(200);
    expect(res.body).toBe("finished");
    expect(await proxy.proc.exited).toBe(0);
    expect(proxy.logs.some((l) => l.includes("SIGTERM: draining"))).toBe(true);
  } finally {
    upstream.stop(true);
  }
});

test("SIGHUP re-reads the routes at once", async () => {
  const { mkdtemp, writeFile } = await import("node:fs/promises");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const file = join(await mkdtemp(join(tmpdir(), "sallyport-hup-")), "routes.eskip");
  await writeFile(file, `r: * -> inlineContent("before") -> <shunt>;`);
  // A poll interval far beyond the test: only SIGHUP can make the change visible.
  await using proxy = await startProxy(["-routes-file", file, "-source-poll-timeout", "3600000"]);
  expect((await curl([proxy.url])).body).toBe("before");
  await writeFile(file, `r: * -> inlineContent("after") -> <shunt>;`);
  proxy.proc.kill("SIGHUP");
  await proxy.waitForLog(/SIGHUP/);
  for (let i = 0; i < 50 && (await curl([proxy.url])).body !== "after"; i++) await Bun.sleep(20);
  expect((await curl([proxy.url])).body).toBe("after");
});

/** Whether a new TCP connection to `port` is refused right now. */
async function refuses(port: number): Promise<boolean> {
  try {
    const probe = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    probe.terminate();
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ECONNREFUSED";
  }
}

test("SIGTERM with a slow request on -address and a tunnel on the forward port: both ports stop accepting at once, both finish, /readyz says 503 meanwhile, exit 0", async () => {
  const { promise: released, resolve: release } = Promise.withResolvers<void>();
  const { upstream, requestArrived } = holdingUpstream(() => released);
  // The tunnel's far end: echoes what it gets.
  const echo = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: (socket, bytes) => void socket.write(bytes) } });
  const proxy = await startProxy(["-inline-routes", `* -> "http://127.0.0.1:${upstream.port}"`, "-forward-address", "127.0.0.1:0", "-egress-allow-private", "-connect-ports", String(echo.port)]);
  try {
    const inflight = curl([proxy.url + "/slow"]);
    await requestArrived;
    let heard = "";
    const tunnel = await Bun.connect({ hostname: "127.0.0.1", port: proxy.forwardPort!, socket: { data: (_s, bytes) => void (heard += Buffer.from(bytes).toString("latin1")) } });
    tunnel.write(`CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\nHost: 127.0.0.1:${echo.port}\r\n\r\nping;`);
    for (let i = 0; i < 200 && !heard.endsWith("ping;"); i++) await Bun.sleep(10);
    expect(heard).toBe("HTTP/1.1 200 Connection Established\r\n\r\nping;");

    proxy.proc.kill("SIGTERM");
    await proxy.waitForLog(/SIGTERM: draining/);
    // Both ways in refuse new connections while both still have work in flight.
    let bothRefuse = false;
    for (let i = 0; i < 200 && !(bothRefuse = (await refuses(proxy.port)) && (await refuses(proxy.forwardPort!))); i++) await Bun.sleep(10);
    expect(bothRefuse).toBe(true);
    // The support listener drains last: it still says the proxy is not ready.
    expect((await fetch(proxy.supportUrl + "/readyz")).status).toBe(503);

    // Both finish: the request gets its answer, the tunnel still carries bytes.
    release();
    const res = await inflight;
    expect([res.status, res.body]).toEqual([200, "finished"]);
    tunnel.write("pong;");
    for (let i = 0; i < 200 && !heard.endsWith("pong;"); i++) await Bun.sleep(10);
    expect(heard.endsWith("ping;pong;")).toBe(true);
    expect(proxy.proc.exitCode).toBeNull();
    tunnel.end();
    expect(await Promise.race([proxy.proc.exited, Bun.sleep(10_000).then(() => "still running")])).toBe(0);
    expect(proxy.logs.some((l) => /still in flight/.test(l))).toBe(false);
  } finally {
    release();
    proxy.proc.kill("SIGKILL");
    upstream.stop(true);
    echo.stop(true);
  }
}, 20_000);
