/** startSallyport in process: shutdown has a deadline even when a response never ends; egress decision lines by level. */
import { describe, expect, test } from "bun:test";
import { startSallyport, StartupError } from "../src/app.ts";
import type { Config } from "../src/config/index.ts";
import { parseEgressList } from "../src/egress/rules.ts";
import { createLogger, type LogLevelName } from "../src/log/index.ts";
import { FakeClock } from "./support/clock.ts";
import { DEFAULT_CONFIG } from "./support/config.ts";

test("stop() closes connections still busy after the grace period", async () => {
  // An upstream whose body never ends.
  const endless = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: () =>
      new Response(
        new ReadableStream({
          async pull(c) {
            await Bun.sleep(50);
            c.enqueue(new Uint8Array(16));
          },
        }),
      ),
  });
  const lines: string[] = [];
  const clock = new FakeClock();
  const app = await startSallyport(
    { ...DEFAULT_CONFIG, address: "127.0.0.1:0", supportListener: "", inlineRoutes: `* -> "http://127.0.0.1:${endless.port}"` },
    createLogger("info", { write: (l) => lines.push(l) }),
    clock,
  );
  try {
    const res = await fetch(`http://${app.addresses.get("proxy")}/`);
    const reader = res.body!.getReader();
    await reader.read(); // the stream is flowing
    const stopped = app.stop(300);
    // The grace period runs on the clock: moving it past 300 ms closes what is still busy.
    await clock.advance(300);
    await stopped;
    expect(lines.some((l) => l.includes("still in flight after 300 ms"))).toBe(true);
  } finally {
    endless.stop(true);
  }
});

describe("egress decision lines", () => {
  async function decisions(egressLogLevel: Config["egressLogLevel"], appLevel: LogLevelName) {
    const upstream = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("up") });
    const lines: string[] = [];
    const app = await startSallyport(
      { ...DEFAULT_CONFIG, address: "127.0.0.1:0", supportListener: "", inlineRoutes: "* -> <dynamic>", egressAllow: parseEgressList("127.0.0.1").rules, egressLogLevel },
      createLogger(appLevel, { write: (l) => lines.push(l) }),
    );
    try {
      const at = `http://${app.addresses.get("proxy")}/`;
      expect((await fetch(at, { headers: { host: `127.0.0.1:${upstream.port}` } })).status).toBe(200);
      expect((await fetch(at, { headers: { host: `127.0.0.2:${upstream.port}` } })).status).toBe(403);
      expect(app.egressDecisions.get("allow-rule")).toBe(1);
      expect(app.egressDecisions.get("not-in-allow-list")).toBe(1);
      return lines.filter((l) => l.includes("egress ")).map((l) => /level=(\w+) msg="egress (\w+)/.exec(l)!.slice(1).join(" "));
    } finally {
      await app.stop(0);
      upstream.stop(true);
    }
  }

  test("by default denials are info and allowed destinations debug", async () => {
    expect(await decisions("info", "info")).toEqual(["info deny"]);
    expect(await decisions("info", "debug")).toEqual(["debug allow", "info deny"]);
  });

  test("-egress-log-level warn: denials warn, allowed destinations info", async () => {
    expect(await decisions("warn", "info")).toEqual(["info allow", "warning deny"]);
  });
});

test("/readyz turns 503 when draining starts while /healthz stays 200; /metrics counts what was served", async () => {
  const upstream = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("up") });
  const app = await startSallyport(
    { ...DEFAULT_CONFIG, address: "127.0.0.1:0", supportListener: "127.0.0.1:0", accessLogDisabled: true, inlineRoutes: `up: * -> "http://127.0.0.1:${upstream.port}"` },
    createLogger("error", { write() {} }),
  );
  try {
    const support = `http://${app.addresses.get("support")}`;
    expect((await fetch(`${support}/readyz`)).status).toBe(200);
    expect(await (await fetch(`http://${app.addresses.get("proxy")}/x`)).text()).toBe("up");
    const scrape = await (await fetch(`${support}/metrics`)).text();
    expect(scrape).toMatch(/^sallyport_requests_total\{[^}]*route="up"[^}]*\} 1$/m);
    app.startDraining();
    expect((await fetch(`${support}/readyz`)).status).toBe(503);
    expect((await fetch(`${support}/healthz`)).status).toBe(200);
    expect(app.ready).toBe(false);
  } finally {
    await app.stop(0);
    upstream.stop(true);
  }
});

test.each([
  [{ tlsCert: "/nonexistent/x.pem", tlsKey: "/nonexistent/x.key" }, "-tls-cert/-tls-key: cannot read /nonexistent/x.pem: ENOENT"],
  [{ tlsClientAuth: "require" as const, tlsClientCa: "/nonexistent/ca.pem", tlsCert: "/nonexistent/x.pem", tlsKey: "/nonexistent/x.key" }, "-tls-cert/-tls-key: cannot read /nonexistent/x.pem: ENOENT"],
])("TLS files that cannot be read stop the start, named: %o", async (over, message) => {
  const start = startSallyport({ ...DEFAULT_CONFIG, address: "127.0.0.1:0", supportListener: "", ...over }, createLogger("error", { write() {} }));
  await expect(start).rejects.toThrow(message);
  await expect(start).rejects.toBeInstanceOf(StartupError);
});
