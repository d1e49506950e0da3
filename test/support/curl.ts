/** @module curl as the real client of the end-to-end tests; always async (spawnSync would block our upstreams). */

export interface CurlResult {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** curl's exit code */
  code: number;
  stderr: string;
}

/** Runs curl with `args` (URL included) and parses the final response's status and headers. */
export async function curl(args: string[], options: { stdin?: ReadableStream | Blob } = {}): Promise<CurlResult> {
  const proc = Bun.spawn(["curl", "-sS", "--noproxy", "*", "-D", "/dev/stderr", "-o", "-", ...args], {
    stdin: options.stdin ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
  });
  const [body, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  // -D /dev/stderr puts the header blocks on stderr; the last block is the final response.
  const blocks = err.split(/\r\n\r\n/).filter((b) => b.startsWith("HTTP/"));
  const last = blocks[blocks.length - 1] ?? "";
  const [statusLine, ...lines] = last.split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(":");
    if (i > 0) headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(statusLine?.split(" ")[1] ?? 0), headers, body, code, stderr: err };
}
