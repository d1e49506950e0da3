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
  // Headers go to stdout ahead of the body (-D -): curl crashes writing -D to /dev/stderr when
  // that is the socket Bun.spawn gives it.
  const proc = Bun.spawn(["curl", "-sS", "--noproxy", "*", "-D", "-", ...args], {
    stdin: options.stdin ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  // One header block per response (interim 1xx ones first); the body follows the last.
  let body = out;
  let last = "";
  while (body.startsWith("HTTP/")) {
    const end = body.indexOf("\r\n\r\n");
    if (end < 0) break;
    last = body.slice(0, end);
    body = body.slice(end + 4);
  }
  const [statusLine, ...lines] = last.split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(":");
    if (i > 0) headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(statusLine?.split(" ")[1] ?? 0), headers, body, code, stderr: err };
}
