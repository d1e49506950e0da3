/**
 * A/B of two sallyport binaries by CPU per request, steadier than req/s on a small shared machine:
 * both run side by side, wrk loads each in turn (alternating which goes first each round), and
 * the proxy's user+system CPU from /proc over each wrk run is divided by the requests it served.
 *
 *   bun bench/ab.ts BIN_A BIN_B [ROUNDS] [extra flags for both...]
 *
 * Environment: UPSTREAM (default http://127.0.0.1:18300, e.g. an nginx with `return 200`), PATHX
 * (the request path, default /), A_FLAGS / B_FLAGS (JSON arrays replacing the default
 * `-support-listener "" -access-log-disabled`), A_ROUTE / B_ROUTE (replacing the routed route).
 */
import { readFileSync } from "node:fs";

const [a, b, roundsArg, ...extra] = process.argv.slice(2);
if (!a || !b) throw new Error("usage: bun bench/ab.ts BIN_A BIN_B [ROUNDS] [flags...]");
const rounds = Number(roundsArg ?? 4);
const upstream = process.env.UPSTREAM ?? "http://127.0.0.1:18300";
const route = `r: Host("bench") -> setRequestHeader("Authorization", "Bearer x") -> "${upstream}"`;
const path = process.env.PATHX ?? "/";

/** user + system CPU of a process, in clock ticks (10 ms) */
function ticks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

const flagsOf = (side: string): string[] => (process.env[`${side}_FLAGS`] ? JSON.parse(process.env[`${side}_FLAGS`]!) : ["-support-listener", "", "-access-log-disabled"]);

async function start(bin: string, port: number, side: string) {
  const proc = Bun.spawn([bin, "-address", `127.0.0.1:${port}`, ...flagsOf(side), "-inline-routes", process.env[`${side}_ROUTE`] ?? route, ...extra], {
    stdout: "ignore",
    stderr: "ignore",
    env: { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: "16384" },
  });
  await Bun.sleep(700);
  return proc;
}

const sides = [
  { name: "A", bin: a, port: 18401, proc: await start(a, 18401, "A"), runs: [] as [number, number][] },
  { name: "B", bin: b, port: 18402, proc: await start(b, 18402, "B"), runs: [] as [number, number][] },
];
for (let r = 0; r < rounds; r++) {
  for (const side of r % 2 ? [...sides].reverse() : sides) {
    const before = ticks(side.proc.pid);
    const out = Bun.spawnSync(["wrk", "-t1", "-c50", "-d4s", "-H", "Host: bench", `http://127.0.0.1:${side.port}${path}`]).stdout.toString();
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
    const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
    side.runs.push([rps, requests ? ((ticks(side.proc.pid) - before) * 10_000) / requests : 0]);
  }
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
for (const side of sides) {
  const rps = side.runs.map((x) => x[0]);
  const cpu = side.runs.map((x) => x[1]);
  console.log(`${side.name} ${side.bin}: req/s ${rps.map((x) => x.toFixed(0)).join(" ")} | µs CPU/request ${cpu.map((x) => x.toFixed(1)).join(" ")} | median ${median(rps).toFixed(0)} req/s, ${median(cpu).toFixed(1)} µs`);
  side.proc.kill();
}
