/**
 * @module
 * Runs wrk as a bounded child process and parses its text report, plus the one line of exact
 * percentiles (p99.9 included) that bench/latency.lua's `done()` prints after the run. wrk has
 * no other machine-readable output, and a Lua `response()` hook would slow wrk itself down.
 */
import { join } from "node:path";
import { trackTransient } from "./procs.ts";

/** wrk runs from the repository root, so the commands in the report name the script as written here. */
const ROOT = join(import.meta.dir, "..");
const ABSOLUTE_FORM_SCRIPT = "bench/absolute-form.lua";
const LATENCY_SCRIPT = "bench/latency.lua";

export interface WrkRun {
  /** what is requested: wrk connects here, unless `proxy` is set */
  readonly url: string;
  readonly threads: number;
  readonly connections: number;
  readonly seconds: number;
  readonly host?: string;
  /** a new connection per request: wrk sends `Connection: close` and reconnects after each response */
  readonly close?: boolean;
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
  /** from bench/latency.lua; undefined if its line is missing */
  readonly p999Ms?: number;
  readonly maxMs?: number;
  readonly socketErrors: { connect: number; read: number; write: number; timeout: number };
  /** wrk's "Non-2xx or 3xx responses": status ≥ 400 */
  readonly errorStatus: number;
  /**
   * Connections the server closed after a complete response that did not say `Connection: close`
   * (set by {@link withUnannouncedCloses} once that is known of the server). wrk decides whether
   * to reuse a connection from the response alone, so it writes the next request, finds the
   * socket closed and counts a read error, though the response arrived whole.
   */
  readonly unannouncedCloses: number;
  readonly raw: string;
}

export function wrkCommand(wrk: string, run: WrkRun): string[] {
  const cmd = [wrk, `-t${run.threads}`, `-c${run.connections}`, `-d${run.seconds}s`, "--latency"];
  if (run.host) cmd.push("-H", `Host: ${run.host}`);
  if (run.close) cmd.push("-H", "Connection: close");
  cmd.push(...(run.proxy ? ["-s", ABSOLUTE_FORM_SCRIPT, run.proxy, run.url] : ["-s", LATENCY_SCRIPT, run.url]));
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
  return { cmd, ...parseWrk(out), unannouncedCloses: 0, raw: out };
}

const TIME_UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const SIZE_UNITS: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

function num(text: string, re: RegExp): number | undefined {
  const m = re.exec(text);
  return m ? Number(m[1]) : undefined;
}

export function parseWrk(out: string): Omit<WrkResult, "cmd" | "raw" | "unannouncedCloses"> {
  const latency = (pct: string): number => {
    const m = new RegExp(`^\\s*${pct}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, "m").exec(out);
    if (!m) throw new Error(`no ${pct}% latency in wrk output:\n${out}`);
    return Number(m[1]) * TIME_UNITS[m[2]!]!;
  };
  const transfer = /^Transfer\/sec:\s+([\d.]+)([KMGT]?B)\s*$/m.exec(out);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const exact = /^latency_us p50=(\d+) p99=(\d+) p99\.9=(\d+) max=(\d+)$/m.exec(out);
  const rps = num(out, /^Requests\/sec:\s+([\d.]+)/m);
  const requests = num(out, /^\s*(\d+) requests in /m);
  if (rps === undefined || requests === undefined) throw new Error(`cannot parse wrk output:\n${out}`);
  return {
    requests,
    rps,
    bytesPerSec: transfer ? Number(transfer[1]) * SIZE_UNITS[transfer[2]!]! : 0,
    p50Ms: exact ? Number(exact[1]) / 1000 : latency("50"),
    p99Ms: exact ? Number(exact[2]) / 1000 : latency("99"),
    p999Ms: exact ? Number(exact[3]) / 1000 : undefined,
    maxMs: exact ? Number(exact[4]) / 1000 : undefined,
    socketErrors: socket
      ? { connect: Number(socket[1]), read: Number(socket[2]), write: Number(socket[3]), timeout: Number(socket[4]) }
      : { connect: 0, read: 0, write: 0, timeout: 0 },
    errorStatus: num(out, /Non-2xx or 3xx responses:\s+(\d+)/) ?? 0,
  };
}

/**
 * For a server known to close connections after whole responses without announcing it: up to one
 * read error per completed request is such a close, not an error, and moves to
 * `unannouncedCloses`. Read errors beyond that stay errors (a response cut short is one of those).
 */
export function withUnannouncedCloses(r: WrkResult): WrkResult {
  const closes = Math.min(r.socketErrors.read, r.requests);
  return { ...r, socketErrors: { ...r.socketErrors, read: r.socketErrors.read - closes }, unannouncedCloses: closes };
}
