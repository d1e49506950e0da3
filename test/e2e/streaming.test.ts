/**
 * 100 MB through the proxy each way, streamed: the proxy's peak RSS stays under 100 MB.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Server } from "bun";
import { readFile } from "node:fs/promises";
import { startProxy, type RunningProxy } from "../support/binary.ts";

const SIZE = 100 * 1024 * 1024;
let upstream: Server<undefined>;
let proxy: RunningProxy;

beforeAll(async () => {
  upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    maxRequestBodySize: SIZE * 2,
    async fetch(req) {
      if (req.method === "POST") {
        let received = 0;
        for await (const chunk of req.body!) received += chunk.byteLength;
        return new Response(String(received));
      }
      // A pull stream: produced only as fast as the proxy reads it.
      const chunk = new Uint8Array(64 * 1024).fill(120);
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent >= SIZE) return controller.close();
          controller.enqueue(chunk);
          sent += chunk.byteLength;
        },
      }, { highWaterMark: 1 });
      return new Response(body, { headers: { "content-length": String(SIZE) } });
    },
  });
  proxy = await startProxy(["-inline-routes", `* -> "http://127.0.0.1:${upstream.port}"`]);
});

afterAll(async () => {
  await proxy?.stop();
  upstream?.stop(true);
});

async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

async function sh(script: string): Promise<string> {
  const p = Bun.spawn(["sh", "-c", script], { stdout: "pipe", stderr: "inherit" });
  const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
  expect(code).toBe(0);
  return out.trim();
}

test("a 100 MB download streams through with flat memory", async () => {
  const out = await sh(`curl -sS --noproxy '*' -o /dev/null -w '%{http_code} %{size_download}' ${proxy.url}/big`);
  expect(out).toBe(`200 ${SIZE}`);
  expect(await peakRssMb(proxy.proc.pid)).toBeLessThan(100);
});

test("a 100 MB upload streams through with flat memory", async () => {
  const out = await sh(`head -c ${SIZE} /dev/zero | curl -sS --noproxy '*' -X POST -H 'Content-Type: application/octet-stream' -T - ${proxy.url}/sink`);
  expect(out).toBe(String(SIZE));
  expect(await peakRssMb(proxy.proc.pid)).toBeLessThan(100);
});
