/**
 * @module
 * CONNECT tunnel throughput, what https_proxy clients get from a forward proxy: curl with `-p`
 * opens a tunnel with CONNECT and then speaks plain HTTP through it, downloading one big file
 * from the upstream. Inside the tunnel the proxy only copies bytes, so this measures its byte
 * pump (wrk cannot send CONNECT). The direct row is the same curl without a proxy.
 */
import { trackTransient } from "./procs.ts";

export interface TunnelResult {
  /** one download's command, for the report */
  readonly cmd: string[];
  /** bytes per second of each complete download, as curl measured it */
  readonly bytesPerSec: number[];
  /** wall time of all downloads, for the CPU shares */
  readonly seconds: number;
  /** downloads that failed or came back wrong: curl's exit code, status or size */
  readonly failures: string[];
}

export function curlCommand(curl: string, url: string, proxy?: string): string[] {
  // --noproxy: never an https_proxy from the environment for the direct row.
  const via = proxy ? ["-p", "-x", proxy] : ["--noproxy", "*"];
  return [curl, "-s", "-S", ...via, "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{speed_download}", url];
}

/** `downloads` times `url` (of `size` bytes) through the proxy's CONNECT tunnel, one after the other. */
export async function runTunnel(curl: string, url: string, size: number, downloads: number, proxy?: string): Promise<TunnelResult> {
  const cmd = curlCommand(curl, url, proxy);
  const bytesPerSec: number[] = [];
  const failures: string[] = [];
  const t0 = performance.now();
  for (let i = 0; i < downloads; i++) {
    const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", timeout: 120_000, killSignal: "SIGKILL" });
    trackTransient(p);
    const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
    const code = await p.exited;
    const [status, got, speed] = out.trim().split(" ").map(Number);
    if (code === 0 && status === 200 && got === size) bytesPerSec.push(speed!);
    else failures.push(`curl exit ${code}, status ${status}, ${got} of ${size} bytes${err.trim() ? `: ${err.trim().split("\n")[0]}` : ""}`);
  }
  return { cmd, bytesPerSec, seconds: (performance.now() - t0) / 1000, failures };
}
