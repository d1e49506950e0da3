/**
 * The floor for any proxy built on Bun: Bun.serve + fetch with the same fetch options sallyport
 * uses (bun-notes §0), and nothing else — no routing, no header work, no timers. The gap between
 * this and sallyport is what sallyport's own code costs; the gap between this and direct is Bun's.
 *
 *   bun bench/bun-baseline.ts PORT http://127.0.0.1:UPSTREAM
 */
const port = Number(process.argv[2]);
const upstream = process.argv[3];
if (!port || !upstream) throw new Error("usage: bun bench/bun-baseline.ts PORT UPSTREAM_URL");

Bun.serve({
  hostname: "127.0.0.1",
  port,
  // as sallyport's listener: bodies of any size (Bun.serve refuses more than 128 MiB by default)
  maxRequestBodySize: Number.MAX_SAFE_INTEGER,
  fetch(req) {
    const url = new URL(req.url);
    return fetch(upstream + url.pathname + url.search, {
      method: req.method,
      headers: req.headers,
      body: req.body,
      duplex: "half",
      decompress: false,
      redirect: "manual",
      proxy: false,
      signal: req.signal,
    } as RequestInit);
  },
});
