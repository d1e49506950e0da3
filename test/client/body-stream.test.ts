/** A response body's queue: the socket paused at 64 KiB, and what all bodies hold counted for /metrics. */
import { expect, test } from "bun:test";
import { BodyStream, queuedResponseBytes } from "../../src/client/body-stream.ts";

function source() {
  const calls: string[] = [];
  return { calls, pause: () => void calls.push("pause"), resume: () => void calls.push("resume"), fail: () => void calls.push("fail") };
}

test("pushed bytes count until they are read; past 64 KiB the socket is paused; an ended body counts nothing", async () => {
  const before = queuedResponseBytes();
  const feed = source();
  const body = new BodyStream(feed);
  body.push(new Uint8Array(40 << 10));
  expect(queuedResponseBytes() - before).toBe(40 << 10);
  expect(feed.calls).not.toContain("pause");
  body.push(new Uint8Array(30 << 10));
  expect(queuedResponseBytes() - before).toBe(70 << 10);
  expect(feed.calls).toContain("pause");

  const reader = body.stream.getReader();
  await reader.read();
  await reader.read();
  // Read to empty: the stream asks for more, and the count follows.
  await Bun.sleep(0);
  expect(queuedResponseBytes() - before).toBe(0);
  expect(feed.calls.at(-1)).toBe("resume");

  body.push(new Uint8Array(1000));
  expect(queuedResponseBytes() - before).toBe(1000);
  body.close();
  expect(queuedResponseBytes() - before).toBe(0);
});

test("a cancelled body gives its count back", async () => {
  const before = queuedResponseBytes();
  const body = new BodyStream(source());
  body.push(new Uint8Array(5000));
  await body.stream.cancel();
  expect(queuedResponseBytes()).toBe(before);
});
