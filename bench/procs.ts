/**
 * @module
 * Child processes of the benchmark: every server runs in the foreground in its own process group
 * (so nginx's workers die with their master), logs to a file in the temp dir, and is killed by
 * group at the end — also when the run fails or is interrupted. Plus /proc readers for peak RSS
 * and CPU time of a process tree.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import type { Subprocess } from "bun";

export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly cmd: readonly string[];
  readonly log: string;
  readonly proc: Subprocess;
}

/** Every process group we started and have not reaped yet. */
const live = new Map<number, Child>();

export function spawnServer(name: string, cmd: string[], log: string, env?: Record<string, string>): Child {
  const proc = Bun.spawn(cmd, {
    // setsid(): the child leads its own group, so kill(-pid) reaches its workers too.
    detached: true,
    stdin: "ignore",
    stdout: Bun.file(log),
    stderr: Bun.file(log),
    env: { ...process.env, ...env },
  });
  const child = { name, pid: proc.pid, cmd, log, proc };
  live.set(proc.pid, child);
  return child;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the whole group is already gone.
  }
}

/** SIGTERM to the group, SIGKILL to whatever is left after `graceMs`. */
export async function stop(child: Child, graceMs = 3000): Promise<void> {
  if (!live.has(child.pid)) return;
  killGroup(child.pid, "SIGTERM");
  await Promise.race([child.proc.exited, Bun.sleep(graceMs)]);
  // Also reaches workers that outlived their master (same pgid).
  killGroup(child.pid, "SIGKILL");
  await Promise.race([child.proc.exited, Bun.sleep(1000)]);
  live.delete(child.pid);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live.values()].map((c) => stop(c)));
}

/** Short-lived helpers (wrk) that share our process group: killed by pid if we are stopped early. */
const transient = new Set<Subprocess>();

export function trackTransient(proc: Subprocess): void {
  transient.add(proc);
  void proc.exited.then(() => transient.delete(proc));
}

/** Last resort from process.on("exit") and signal handlers, where nothing async runs any more. */
export function killAllSync(): void {
  for (const pid of live.keys()) killGroup(pid, "SIGKILL");
  live.clear();
  for (const proc of transient) proc.kill("SIGKILL");
  transient.clear();
}

/** A TCP port the kernel considers free right now (tiny race until the server binds it: fine here). */
export function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const { port } = s;
  s.stop(true);
  return port;
}

/** Waits until `check` succeeds, the child exits, or the deadline passes (then throws with the log tail). */
export async function waitReady(child: Child, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) {
      throw new Error(`${child.name} exited early (code ${child.proc.exitCode ?? child.proc.signalCode}); log ${child.log}:\n${tail(child.log)}`);
    }
    if (await check().catch(() => false)) return;
    await Bun.sleep(100);
  }
  throw new Error(`${child.name} not ready after ${timeoutMs} ms; log ${child.log}:\n${tail(child.log)}`);
}

export function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** pid and all its descendants, from the ppid field of /proc/N/stat. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (!stat) continue;
    const list = children.get(stat.ppid) ?? [];
    list.push(Number(entry));
    children.set(stat.ppid, list);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length) {
    const pid = queue.shift()!;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** ppid and utime+stime (clock ticks) of one process; the comm field may hold spaces, so parse after ')'. */
function readStat(pid: number): { ppid: number; ticks: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    // fields[0] is state (field 3), so field N is fields[N - 3].
    return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
}

/** A kB field of /proc/PID/status summed over the tree. */
function treeStatusKiB(root: number, field: "VmHWM" | "VmRSS"): { kib: number; processes: number } {
  let kib = 0;
  const pids = processTree(root);
  for (const pid of pids) {
    try {
      const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      if (m) kib += Number(m[1]);
    } catch {
      // exited meanwhile
    }
  }
  return { kib, processes: pids.length };
}

/**
 * Peak RSS (VmHWM) summed over the tree, in KiB. The sum of per-process peaks is an upper bound
 * of the tree's simultaneous peak; for nginx it is master + worker.
 */
export function treePeakRssKiB(root: number): { kib: number; processes: number } {
  return treeStatusKiB(root, "VmHWM");
}

/** RSS right now (VmRSS) summed over the tree, in KiB. */
export function treeRssKiB(root: number): { kib: number; processes: number } {
  return treeStatusKiB(root, "VmRSS");
}

/** Resets VmHWM to the current RSS (`echo 5 > clear_refs`, Linux ≥ 4.0) so each phase gets its own peak. */
export function resetPeakRss(root: number): boolean {
  let ok = true;
  for (const pid of processTree(root)) {
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, "5");
    } catch {
      ok = false;
    }
  }
  return ok;
}

/** CPU seconds (user + system) used so far by the tree; USER_HZ is 100 on Linux. */
export function treeCpuSeconds(root: number): number {
  let ticks = 0;
  for (const pid of processTree(root)) ticks += readStat(pid)?.ticks ?? 0;
  return ticks / 100;
}

/** pid's parent, grandparent, … up to init: whoever started the benchmark (npm, a shell) is not "other". */
export function ancestors(pid: number): number[] {
  const out: number[] = [];
  for (let p = readStat(pid)?.ppid; p && p > 1 && !out.includes(p); p = readStat(p)?.ppid) out.push(p);
  return out;
}

/** CPU ticks of every process on the machine right now, to see who else used the cores during a run. */
export function cpuSnapshot(): Map<number, number> {
  const snap = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat) snap.set(Number(entry), stat.ticks);
  }
  return snap;
}

/**
 * CPU seconds used between two snapshots by processes outside `exclude` (the benchmark's own),
 * and the command lines of the busiest of them. Processes that started and ended in between are
 * missed, so this is a lower bound.
 */
export function otherCpu(before: Map<number, number>, after: Map<number, number>, exclude: Set<number>): { seconds: number; busiest: string[] } {
  let ticks = 0;
  const per: [number, number][] = [];
  for (const [pid, t] of after) {
    if (exclude.has(pid)) continue;
    const d = t - (before.get(pid) ?? 0);
    ticks += d;
    if (d > 0) per.push([pid, d]);
  }
  const busiest = per
    .sort((a, b) => b[1] - a[1])
    .slice(0, 2)
    .map(([pid]) => commandOf(pid))
    .filter((c): c is string => !!c);
  return { seconds: ticks / 100, busiest };
}

function commandOf(pid: number): string | undefined {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
    return cmd.length > 80 ? cmd.slice(0, 77) + "…" : cmd;
  } catch {
    return undefined;
  }
}
