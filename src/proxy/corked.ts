/**
 * @module
 * A whole response body as Bun.serve writes it fastest. Bun.serve (1.4.5) writes a response made
 * after an await uncorked once its head and body overflow the 16 KiB cork buffer: one send() for
 * the status line, and for each header its name, ": ", value and CRLF — about thirty syscalls,
 * and a fifth of the throughput for 16–64 KiB bodies (bench/RESULTS.md). The same bytes as a
 * one-chunk stream are written corked, at the price of the Content-Length: Bun frames every
 * streamed body chunked (oven-sh/bun#10507).
 */

/** Bodies up to this size go out as bytes, with their Content-Length: their head has 4 KiB left. */
export const CORKED_BYTES = 12 * 1024;

/** `body` (of `size` bytes) as the Response body Bun writes corked. */
export function corkedBody(body: string | Uint8Array | null, size: number): string | Uint8Array | ReadableStream<Uint8Array> | null {
  if (body === null || size <= CORKED_BYTES) return body;
  const bytes = typeof body === "string" ? Buffer.from(body) : body;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
}
