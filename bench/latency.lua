-- wrk's text report rounds its percentiles and has no p99.9: done() runs once, after the run, in
-- the main thread, and prints the exact ones (microseconds) on a line of its own for bench/wrk.ts.
-- No request() or response() is defined, so wrk still builds the request once and sends it as
-- is (no Lua call per request), exactly as without a script.
--
--   wrk -s bench/latency.lua http://127.0.0.1:PORT/PATH
function done(summary, latency, requests)
  io.write(string.format("latency_us p50=%d p99=%d p99.9=%d max=%d\n",
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
