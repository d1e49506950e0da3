/**
 * @module
 * What `-workers 0` (the default) means: one worker per CPU this process may use. That is the
 * CPUs it may run on (its affinity, which `navigator.hardwareConcurrency` reports), lowered to
 * the CPU quota of its cgroup, rounded up: a container limited to 1.5 CPUs on a 64-core host, or
 * a systemd unit with `CPUQuota=150%`, gets 2 workers, not 64 (each worker costs its own memory,
 * and more runnable processes than the quota allows only queue for it). Go 1.25 sets GOMAXPROCS
 * the same way.
 */
import { readFileSync } from "node:fs";

/** Reads a file's text, or undefined when it cannot be read. */
export type ReadFile = (path: string) => string | undefined;

const readOrUndefined: ReadFile = (path) => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
};

/** The number of workers `-workers 0` starts: at least 1. */
export function availableCores(cpus: number = navigator.hardwareConcurrency, read: ReadFile = readOrUndefined): number {
  const limit = cgroupCpuLimit(read);
  return Math.max(1, Math.min(cpus, limit === undefined ? cpus : Math.ceil(limit)));
}

/**
 * The CPU quota of this process's cgroup and of every cgroup above it, the smallest, in CPUs;
 * undefined when there is none. cgroup v2 (`cpu.max`: `QUOTA PERIOD` or `max PERIOD`) and v1
 * (`cpu.cfs_quota_us`, -1 for none, and `cpu.cfs_period_us`).
 */
export function cgroupCpuLimit(read: ReadFile): number | undefined {
  let smallest: number | undefined;
  const consider = (quota: number, period: number) => {
    if (quota > 0 && period > 0) smallest = Math.min(smallest ?? Infinity, quota / period);
  };
  for (const { version, path } of cgroupsOf(read("/proc/self/cgroup") ?? "")) {
    for (const dir of selfAndAncestors(path)) {
      if (version === 2) {
        const [quota, period] = (read(`/sys/fs/cgroup${dir}/cpu.max`) ?? "").trim().split(/\s+/);
        if (quota !== undefined && quota !== "max") consider(Number(quota), Number(period));
      } else {
        for (const mount of ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"]) {
          const quota = read(`${mount}${dir}/cpu.cfs_quota_us`);
          if (quota !== undefined) consider(Number(quota.trim()), Number(read(`${mount}${dir}/cpu.cfs_period_us`)?.trim()));
        }
      }
    }
  }
  return smallest;
}

interface Cgroup {
  readonly version: 1 | 2;
  readonly path: string;
}

/** From /proc/self/cgroup: the v2 hierarchy (`0::PATH`) and the v1 one holding the cpu controller. */
function cgroupsOf(text: string): Cgroup[] {
  const groups: Cgroup[] = [];
  for (const line of text.split("\n")) {
    const [id, controllers, ...rest] = line.split(":");
    const path = rest.join(":");
    if (!path.startsWith("/")) continue;
    if (id === "0" && controllers === "") groups.push({ version: 2, path });
    else if (controllers?.split(",").includes("cpu")) groups.push({ version: 1, path });
  }
  return groups;
}

/** `/a/b` → `/a/b`, `/a`, `` (the mount's root). A quota anywhere above a cgroup limits it too. */
function selfAndAncestors(path: string): string[] {
  const dirs: string[] = [];
  for (let dir = path.replace(/\/+$/, ""); ; dir = dir.slice(0, dir.lastIndexOf("/"))) {
    dirs.push(dir);
    if (dir === "") return dirs;
  }
}
