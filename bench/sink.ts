/**
 * The upload sink of scenario 4: reads every request body to the end, keeps nothing, and answers
 * 200 with the number of bytes it read, so the bench can check that the whole upload arrived.
 * A Bun.serve rather than nginx, the neutral upstream everywhere else: nginx's `return` answers
 * before it has read the body (it discards the rest afterwards), so the proxy in between would
 * see the response mid-upload and nothing would prove the bytes all went through; nginx reading
 * the body first means spooling it to a temp file. The proxy's RSS, the point of the scenario,
 * does not depend on which server drains the bytes.
 *
 *   bun bench/sink.ts PORT
 */
export {}; // a module: its names stay out of the other bench scripts' global scope

const port = Number(process.argv[2]);
if (!port) throw new Error("usage: bun bench/sink.ts PORT");

Bun.serve({
  hostname: "127.0.0.1",
  port,
  // Bun.serve refuses bodies over 128 MiB by default.
  maxRequestBodySize: Number.MAX_SAFE_INTEGER,
  idleTimeout: 0,
  async fetch(req) {
    let read = 0;
    if (req.body) for await (const chunk of req.body) read += chunk.byteLength;
    return new Response(String(read));
  },
});
