/**
 * More than 256 requests in flight at once reach the backend together. Bun's fetch would queue
 * beyond 256 per process (unless BUN_CONFIG_MAX_HTTP_REQUESTS is raised in the environment); our
 * own client (src/client/), which carries requests without a body, has no such cap.
 */
import { expect, test } from "bun:test";
import { startProxy } from "../support/binary.ts";

const CLIENTS = 300;

test(`${CLIENTS} concurrent requests are all in flight at the backend at once`, async () => {
  let inflight = 0;
  let peak = 0;
  const { promise: allArrived, resolve: release } = Promise.withResolvers<void>();
  const upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 30,
    async fetch() {
      peak = Math.max(peak, ++inflight);
      if (inflight === CLIENTS) release();
      // Hold every request until all have arrived, or give up after a while so a queueing proxy
      // shows up as a lower peak instead of a hung test.
      await Promise.race([allArrived, Bun.sleep(4000)]);
      inflight--;
      return new Response("ok");
    },
  });
  try {
    await using proxy = await startProxy(["-inline-routes", `* -> "http://127.0.0.1:${upstream.port}"`]);
    // One curl process, all transfers at once; each URL needs its own -o.
    const transfers = Array.from({ length: CLIENTS }, (_, i) => [`${proxy.url}/${i}`, "-o", "/dev/null"]).flat();
    const curl = Bun.spawn(["curl", "-sS", "--noproxy", "*", "-Z", "--parallel-immediate", "--parallel-max", String(CLIENTS), "-w", "%{http_code}\n", ...transfers], { stdout: "pipe", stderr: "pipe" });
    const [out, code] = await Promise.all([new Response(curl.stdout).text(), curl.exited]);
    expect(code).toBe(0);
    expect(out.trim().split("\n").filter((s) => s === "200")).toHaveLength(CLIENTS);
    expect(peak).toBe(CLIENTS);
  } finally {
    upstream.stop(true);
  }
});
