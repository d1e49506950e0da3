/** `-workers 0`: one worker per CPU, lowered to the cgroup's CPU quota (files given as a map). */
import { expect, test } from "bun:test";
import { availableCores, cgroupCpuLimit } from "../../src/workers/cores.ts";

const files = (entries: Record<string, string>) => (path: string) => entries[path];

test("cgroup v2: the quota of the process's own cgroup, rounded up; `max` is no limit", () => {
  const v2 = (cpuMax: string) => files({ "/proc/self/cgroup": "0::/system.slice/sallyport.service\n", "/sys/fs/cgroup/system.slice/sallyport.service/cpu.max": cpuMax });
  expect(cgroupCpuLimit(v2("150000 100000\n"))).toBe(1.5);
  expect(availableCores(64, v2("150000 100000\n"))).toBe(2);
  expect(availableCores(64, v2("50000 100000\n"))).toBe(1);
  expect(availableCores(64, v2("max 100000\n"))).toBe(64);
  expect(cgroupCpuLimit(v2("max 100000\n"))).toBeUndefined();
});

test("cgroup v2: a smaller quota on a parent cgroup limits its children too", () => {
  const read = files({
    "/proc/self/cgroup": "0::/kubepods/pod1/ctr\n",
    "/sys/fs/cgroup/kubepods/pod1/ctr/cpu.max": "max 100000",
    "/sys/fs/cgroup/kubepods/pod1/cpu.max": "300000 100000",
    "/sys/fs/cgroup/kubepods/cpu.max": "800000 100000",
  });
  expect(availableCores(16, read)).toBe(3);
});

test("inside a container's cgroup namespace the path is / and the file is at the mount's root", () => {
  expect(availableCores(8, files({ "/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/cpu.max": "200000 100000\n" }))).toBe(2);
});

test("cgroup v1: cpu.cfs_quota_us over cpu.cfs_period_us; -1 is no limit; cpu,cpuacct mounts too", () => {
  const v1 = (quota: string, mount = "/sys/fs/cgroup/cpu") =>
    files({ "/proc/self/cgroup": "4:memory:/x\n3:cpu,cpuacct:/docker/abc\n", [`${mount}/docker/abc/cpu.cfs_quota_us`]: quota, [`${mount}/docker/abc/cpu.cfs_period_us`]: "100000\n" });
  expect(availableCores(32, v1("250000\n"))).toBe(3);
  expect(availableCores(32, v1("250000\n", "/sys/fs/cgroup/cpu,cpuacct"))).toBe(3);
  expect(availableCores(32, v1("-1\n"))).toBe(32);
});

test("no cgroup files (not Linux, or not readable): the CPUs; never fewer than one worker", () => {
  expect(availableCores(6, files({}))).toBe(6);
  expect(availableCores(0, files({}))).toBe(1);
  expect(availableCores(4, files({ "/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/cpu.max": "garbage" }))).toBe(4);
});

test("on this machine: between one and the CPUs this process may run on", () => {
  const cores = availableCores();
  expect(cores).toBeGreaterThanOrEqual(1);
  expect(cores).toBeLessThanOrEqual(navigator.hardwareConcurrency);
});
