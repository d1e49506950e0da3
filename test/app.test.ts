/** startSallyport in process: shutdown has a deadline even when a response never ends. */
import { expect, test } from "bun:test";
import { startSallyport } from "../src/app.ts";
import { createLogger } from "../src/log/index.ts";
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
