/**
 * @module
 * Runs wrk as a bounded child process and parses its text report (wrk has no machine-readable
 * output without a Lua script, and a Lua `response()` hook would slow wrk itself down).
 */
import { join } from "node:path";
import { trackTransient } from "./procs.ts";

/** wrk runs from the repository root, so the commands in the report name the script as written here. */
const ROOT = join(import.meta.dir, "..");
const ABSOLUTE_FORM_SCRIPT = "bench/absolute-form.lua";

export interface WrkRun {
  /** what is requested: wrk connects here, unless `proxy` is set */
  readonly url: string;
  readonly threads: number;
  readonly connections: number;
  readonly seconds: number;
  readonly host?: string;
  /** a forward proxy (http://HOST:PORT) that wrk connects to instead and asks for `url` in absolute form, like an http_proxy client */
  readonly proxy?: string;
}

export interface WrkResult {
  /** the exact command, for the report */
  readonly cmd: string[];
  readonly requests: number;
  readonly rps: number;
  /** bytes per second read by wrk (headers included) */
  readonly bytesPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly socketErrors: { connect: number; read: number; write: number; timeout: number };
  /** wrk's "Non-2xx or 3xx responses": status ≥ 400 */
  readonly errorStatus: number;
  readonly raw: string;
}

export function wrkCommand(wrk: string, run: WrkRun): string[] {
  const cmd = [wrk, `-t${run.threads}`, `-c${run.connections}`, `-d${run.seconds}s`, "--latency"];
  if (run.host) cmd.push("-H", `Host: ${run.host}`);
  cmd.push(...(run.proxy ? ["-s", ABSOLUTE_FORM_SCRIPT, run.proxy, run.url] : [run.url]));
  return cmd;
}

export async function runWrk(wrk: string, run: WrkRun): Promise<WrkResult> {
  const cmd = wrkCommand(wrk, run);
  // wrk stops by itself after -d; the timeout only guards against a wedged wrk.
  const p = Bun.spawn(cmd, { cwd: ROOT, stdout: "pipe", stderr: "pipe", timeout: (run.seconds + 30) * 1000, killSignal: "SIGKILL" });
  trackTransient(p);
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited ${code}:\n${out}${err}`);
  return { cmd, ...parseWrk(out), raw: out };
}

const TIME_UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const SIZE_UNITS: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

function num(text: string, re: RegExp): number | undefined {
  const m = re.exec(text);
  return m ? Number(m[1]) : undefined;
}

export function parseWrk(out: string): Omit<WrkResult, "cmd" | "raw"> {
  const latency = (pct: string): number => {
    const m = new RegExp(`^\\s*${pct}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, "m").exec(out);
    if (!m) throw new Error(`no ${pct}% latency in wrk output:\n${out}`);
    return Number(m[1]) * TIME_UNITS[m[2]!]!;
  };
  const transfer = /^Transfer\/sec:\s+([\d.]+)([KMGT]?B)\s*$/m.exec(out);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const rps = num(out, /^Requests\/sec:\s+([\d.]+)/m);
  const requests = num(out, /^\s*(\d+) requests in /m);
  if (rps === undefined || requests === undefined) throw new Error(`cannot parse wrk output:\n${out}`);
  return {
    requests,
    rps,
    bytesPerSec: transfer ? Number(transfer[1]) * SIZE_UNITS[transfer[2]!]! : 0,
    p50Ms: latency("50"),
    p99Ms: latency("99"),
    socketErrors: socket
      ? { connect: Number(socket[1]), read: Number(socket[2]), write: Number(socket[3]), timeout: Number(socket[4]) }
      : { connect: 0, read: 0, write: 0, timeout: 0 },
    errorStatus: num(out, /Non-2xx or 3xx responses:\s+(\d+)/) ?? 0,
  };
}
