import { expect, test } from "bun:test";
import { CORKED_BYTES, corkedBody } from "../../src/proxy/corked.ts";

test("bodies up to CORKED_BYTES stay as they are; bigger ones become a stream of the same bytes", async () => {
  const small = new Uint8Array(CORKED_BYTES).fill(1);
  expect(corkedBody(small, small.byteLength)).toBe(small);
  expect(corkedBody("hi", 2)).toBe("hi");
  expect(corkedBody(null, 0)).toBeNull();
  const big = new Uint8Array(CORKED_BYTES + 1).fill(2);
  const streamed = corkedBody(big, big.byteLength);
  expect(streamed).toBeInstanceOf(ReadableStream);
  expect(new Uint8Array(await new Response(streamed).arrayBuffer())).toEqual(big);
  const text = "é".repeat(CORKED_BYTES);
  expect(await new Response(corkedBody(text, Buffer.byteLength(text))).text()).toBe(text);
});
