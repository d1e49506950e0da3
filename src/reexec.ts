/**
 * @module
 * Imported first by main.ts. Bun's fetch lets at most BUN_CONFIG_MAX_HTTP_REQUESTS (default 256)
 * requests be in flight per process and queues the rest, so long downloads would starve every
 * other request; Bun reads the limit only from the environment at process start. Without it set,
 * the process replaces itself once (execve: same PID, so systemd and supervisors see nothing)
 * with the limit raised. An operator's own value is kept.
 */
const MAX_IN_FLIGHT = "16384";

if (process.env.BUN_CONFIG_MAX_HTTP_REQUESTS === undefined && process.execve) {
  // In a compiled binary argv is ["bun", "/$bunfs/root/sallyport", ...flags]; under `bun src/main.ts`
  // the script path must be passed again.
  const args = Bun.isStandaloneExecutable ? [process.execPath, ...process.argv.slice(2)] : [process.execPath, Bun.main, ...process.argv.slice(2)];
  try {
    process.execve(process.execPath, args, { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: MAX_IN_FLIGHT });
  } catch {
    // Not fatal: the proxy still works, with Bun's default queueing beyond 256 requests.
  }
}
