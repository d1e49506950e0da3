/**
 * @module
 * Big transfers with curl, one at a time: downloads through a forward proxy's CONNECT tunnel
 * (what https_proxy clients get: curl with `-p` opens a tunnel with CONNECT and then speaks plain
 * HTTP through it, so the proxy only copies bytes — wrk cannot send CONNECT), and downloads and
 * uploads through a reverse proxy's routed path, where the proxy streams a body it must not hold.
 * The direct rows are the same curl without a proxy.
 */
import { trackTransient } from "./procs.ts";

export interface Transfer {
  /** what is requested: curl connects here, unless `proxy` is set */
  readonly url: string;
  /** a forward proxy (http://HOST:PORT) whose CONNECT tunnel curl uses (`-p -x`) */
  readonly proxy?: string;
  readonly host?: string;
  /** `up`: PUT `file` (`curl -T`), the upstream answers with the number of bytes it read; `down`: GET, body discarded */
  readonly direction: "down" | "up";
  /** for uploads: the file sent (a sparse file: zeros, no disk) */
  readonly file?: string;
  /** bytes expected to arrive */
  readonly size: number;
}

export interface TransferResult {
  /** the exact command, for the report */
  readonly cmd: string[];
  /** bytes per second as curl measured it; undefined when the transfer failed */
  readonly bytesPerSec?: number;
  /** wall time, for the CPU shares */
  readonly seconds: number;
  /** why the transfer failed or came back wrong: curl's exit code, status or size */
  readonly failure?: string;
}

export function curlCommand(curl: string, t: Transfer): string[] {
  // --noproxy: never an https_proxy from the environment for the direct and routed rows.
  const via = t.proxy ? ["-p", "-x", t.proxy] : ["--noproxy", "*"];
  const host = t.host ? ["-H", `Host: ${t.host}`] : [];
  if (t.direction === "down") return [curl, "-s", "-S", ...via, ...host, "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{speed_download}", t.url];
  // `Expect:` off: curl would otherwise wait up to a second for a 100 Continue before sending.
  return [curl, "-s", "-S", ...via, ...host, "-H", "Expect:", "-T", t.file!, "-w", "\n%{http_code} %{size_upload} %{speed_upload}", t.url];
}

/** One transfer, bounded; its status, size (and for uploads the upstream's byte count) checked. */
export async function runTransfer(curl: string, t: Transfer): Promise<TransferResult> {
  const cmd = curlCommand(curl, t);
  const t0 = performance.now();
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", timeout: 300_000, killSignal: "SIGKILL" });
  trackTransient(p);
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  const seconds = (performance.now() - t0) / 1000;
  const lines = out.trimEnd().split("\n");
  const [status, got, speed] = lines.at(-1)!.split(" ").map(Number);
  // for uploads the sink's answer (the bytes it read) comes before curl's -w line
  const counted = t.direction === "up" ? Number(lines.slice(0, -1).join("").trim()) : got;
  if (code === 0 && status === 200 && got === t.size && counted === t.size) return { cmd, bytesPerSec: speed!, seconds };
  const upstream = t.direction === "up" ? `, upstream read ${lines.slice(0, -1).join(" ").slice(0, 80) || "nothing"}` : "";
  return { cmd, seconds, failure: `curl exit ${code}, status ${status}, ${got} of ${t.size} bytes${upstream}${err.trim() ? `: ${err.trim().split("\n")[0]}` : ""}` };
}
