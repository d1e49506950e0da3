/** Shutdown loses nothing: SIGTERM lets in-flight requests finish, then the process exits 0. */
import { expect, test } from "bun:test";
import { startProxy } from "../support/binary.ts";
import { curl } from "../support/curl.ts";

test("SIGTERM drains an in-flight request, then exits 0", async () => {
  let arrived!: () => void;
  const requestArrived = new Promise<void>((resolve) => (arrived = resolve));
  const upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch() {
      arrived();
      await Bun.sleep(700);
      return new Response("finished");
    },
  });
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
