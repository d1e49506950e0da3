/**
 * Side-by-side benchmark: wrk straight to an nginx upstream ("direct"), and through sallyport
 * (one catch-all route; 10,000 Host routes in two spellings), a bare Bun.serve+fetch proxy (the
 * floor for anything on Bun), nginx, haproxy and squid, one after the other, all on 127.0.0.1.
 * Then as an http_proxy client (absolute-form requests) through sallyport's forward port and
 * through squid as a forward proxy; for those two (and direct) also curl's 1 GiB downloads
 * through a CONNECT tunnel, as an https_proxy client would use them.
 * Results are appended to bench/RESULTS.md.
 *
 *   bun run bench/run.ts [--quick] [--out FILE] [--keep] [--build] [--bin PATH]
 *
 * --quick  3 s per measurement instead of 10 s
 * --out    where to append the Markdown (default bench/RESULTS.md)
 * --keep   keep the temp dir with the generated configs and server logs
 * --build  rebuild dist/sallyport first (otherwise it is built only when missing)
 * --bin    measure this sallyport binary instead of dist/sallyport
 *
 * Installs nginx, haproxy, squid and wrk with apt-get when missing. Stops by itself: every wait
 * is bounded, and all servers are killed by process group on the way out, including on errors
 * and Ctrl-C.
 */
import { appendFileSync, chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { countEvents, LogWatch, summarize } from "./logs.ts";
import { ancestors, cpuSnapshot, killAllSync, otherCpu, processTree, resetPeakRss, stop, stopAll, treeCpuSeconds, treePeakRssKiB } from "./procs.ts";
import { type Measurement, type Phase, renderRun, RESULTS_HEADER, type RunInfo } from "./report.ts";
import * as servers from "./servers.ts";
import { LARGE_PATH, LARGE_SIZE, probe, SMALL_BODY, SMALL_PATH, type Target, TUNNEL_PATH, TUNNEL_SIZE } from "./servers.ts";
import { ensureBinary, ensureTools, gitDescribe, machine, versions } from "./tools.ts";
import { runTunnel, type TunnelResult } from "./tunnel.ts";
import { runWrk, type WrkRun } from "./wrk.ts";

const ROOT = join(import.meta.dir, "..");

const { values: opts } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    quick: { type: "boolean", default: false },
    out: { type: "string" },
    keep: { type: "boolean", default: false },
    build: { type: "boolean", default: false },
    bin: { type: "string" },
  },
});

/** Load shapes. 50 connections for many small requests; 10 for 1 MiB bodies, where bytes/s is the point. */
const SECONDS = opts.quick ? 3 : 10;
const WARMUP = opts.quick ? 1 : 2;
const SMALL = { threads: 2, connections: 50, seconds: SECONDS };
const LARGE = { threads: 2, connections: 10, seconds: SECONDS };
type Shape = typeof SMALL;
/** CONNECT tunnel: this many 1 GiB downloads one after the other; the table shows their median. */
const TUNNEL_DOWNLOADS = 3;
/** Above this share of a core used by other processes during a measurement, the note says so. */
const NOISY = 0.2;

/** The run's temp dir, removed when the run is interrupted (kept on errors, for the logs). */
let tempDir: string | undefined;
const cleanupAndExit = (code: number, removeTemp = false) => {
  killAllSync();
  if (removeTemp && tempDir && !opts.keep) rmSync(tempDir, { recursive: true, force: true });
  process.exit(code);
};
process.on("exit", killAllSync);
process.on("SIGINT", () => cleanupAndExit(130, true));
process.on("SIGTERM", () => cleanupAndExit(143, true));

async function main(): Promise<void> {
  const tools = await ensureTools();
  if (!tools.wrk || !tools.nginx) throw new Error("wrk and nginx are required (apt-get install wrk nginx)");
  const { bin, stale } = opts.bin ? { bin: resolve(opts.bin), stale: false } : await ensureBinary(ROOT, opts.build);

  // Whatever happens below, the run ends: a hung phase is cut off here (children killed on exit).
  const limitMs = (opts.quick ? 10 : 30) * 60_000;
  setTimeout(() => {
    console.error(`benchmark exceeded ${limitMs / 60_000} min; killing everything`);
    cleanupAndExit(2);
  }, limitMs).unref();

  const dir = (tempDir = mkdtempSync(join(tmpdir(), "sallyport-bench-")));
  // The servers that drop root (nginx workers, squid) must be able to enter it.
  chmodSync(dir, 0o755);
  let ok = false;
  try {
    const notes: string[] = [];
    if (stale) notes.push("dist/sallyport was older than src/ and was not rebuilt (pass --build): it may not be the source state named above.");
    if (opts.bin) notes.push(`sallyport binary: \`${opts.bin}\` (--bin), not dist/sallyport.`);
    const { phases, tunnel } = await measureAll(dir, tools, bin);
    notes.push(...findings(phases, tunnel));
    const report = renderRun({
      command: commandLine(),
      date: new Date(),
      machine: machine(),
      versions: await versions(tools, bin),
      commit: await gitDescribe(ROOT),
      upstream: `nginx, \`worker_processes 1\`, \`${SMALL_PATH}\` answers a fixed ${SMALL_BODY.length}-byte body with \`return 200\`, \`${LARGE_PATH}\` is a 1 MiB file sent with sendfile (\`${TUNNEL_PATH}\`, for the tunnel downloads, a sparse 1 GiB file of zeros); keep-alive with \`keepalive_requests 1000000\`; no access log. nginx rather than a Bun.serve upstream: neutral, and the cheapest server at hand.`,
      load: `wrk, ${SMALL.threads} threads, ${SECONDS} s per measurement; small bodies over ${SMALL.connections} keep-alive connections, 1 MiB bodies over ${LARGE.connections}. Before each target, an unrecorded ${WARMUP} s warm-up. Targets run one at a time; after each measurement one GET through the target is checked byte for byte. The forward proxies (\`http_proxy\` rows) get what an http_proxy client sends: wrk connects to the proxy and asks for the upstream's URL in absolute form (\`bench/absolute-form.lua\`), and the check after each measurement is an absolute-form GET through the proxy too.`,
      phases,
      tunnel,
      targets: phases[0]!.rows.filter((r) => r.result).map((r) => r.target),
      micro: await runMicro(),
      notes,
    });
    const out = opts.out ?? join(ROOT, "bench/RESULTS.md");
    if (!existsSync(out)) appendFileSync(out, RESULTS_HEADER);
    appendFileSync(out, report + "\n");
    console.log(`\n${report}\nappended to ${out}`);
    ok = true;
  } finally {
    await stopAll();
    if (ok && !opts.keep) rmSync(dir, { recursive: true, force: true });
    else console.log(`configs and logs kept in ${dir}`);
  }
}

async function measureAll(dir: string, tools: Record<string, string>, bin: string): Promise<Pick<RunInfo, "phases" | "tunnel">> {
  const upstream = await servers.startUpstream(dir, tools.nginx!);
  const expectedLarge = readFileSync(join(dir, "upstream/www", LARGE_PATH.slice(1)));
  const smallOk = async (t: Target) => {
    const r = await probe(t, SMALL_PATH);
    return r.status === 200 && new TextDecoder().decode(r.body) === SMALL_BODY;
  };
  const largeOk = async (t: Target) => {
    const r = await probe(t, LARGE_PATH);
    return r.status === 200 && r.body.length === LARGE_SIZE && Buffer.from(r.body).equals(expectedLarge);
  };

  const contenders: [string, (() => Promise<Target>) | string][] = [
    ["direct", async () => servers.direct(upstream)],
    ["sallyport", () => servers.startSallyport(dir, bin, upstream.port)],
    ["sallyport, 10k Host routes `[.]`", () => servers.startSallyportManyRoutes(dir, bin, upstream.port, "[.]")],
    ["sallyport, 10k Host routes `\\.`", () => servers.startSallyportManyRoutes(dir, bin, upstream.port, "\\.")],
    ["sallyport forward port (http_proxy)", () => servers.startSallyportForward(dir, bin, upstream)],
    ["Bun.serve+fetch floor", () => servers.startBunBaseline(dir, upstream.port)],
    ["nginx", () => servers.startNginxProxy(dir, tools.nginx!, upstream.port)],
    ["haproxy", tools.haproxy ? () => servers.startHaproxy(dir, tools.haproxy!, upstream.port) : "haproxy not installed"],
    ["squid", tools.squid ? () => servers.startSquid(dir, tools.squid!, upstream.port) : "squid not installed"],
    ["squid forward proxy (http_proxy)", tools.squid ? () => servers.startSquidForward(dir, tools.squid!, upstream) : "squid not installed"],
  ];

  const small: Measurement[] = [];
  const large: Measurement[] = [];
  const tunnel: Measurement<TunnelResult>[] = [];
  // One contender at a time: the others would only take memory and risk stray CPU use.
  for (const [name, startOrReason] of contenders) {
    let target: Target;
    try {
      if (typeof startOrReason === "string") throw new Error(startOrReason);
      console.log(`\n== ${name}`);
      target = await startOrReason();
    } catch (e) {
      const reason = (e as Error).message.split("\n")[0]!.replace(/; log \S+:$/, "");
      console.error(`${name}: skipped: ${(e as Error).message}`);
      for (const list of [small, large]) list.push({ target: { name, setup: "" }, skipped: reason, problems: [], logLines: [] });
      continue;
    }
    try {
      const logDirs = [join(dir, "upstream"), ...(target.child ? [dirname(target.child.log)] : [])];
      const warm = new LogWatch(logDirs);
      await runWrk(tools.wrk!, load(target, { ...SMALL, seconds: WARMUP }, SMALL_PATH));
      const warmLines = warm.newProblemLines();
      const s = await measure(tools.wrk!, target, load(target, SMALL, SMALL_PATH), logDirs, () => smallOk(target));
      // Lines logged during the warm-up are charged to the small-body row, which has the same shape.
      small.push({ ...s, logLines: [...warmLines, ...s.logLines] });
      large.push(await measure(tools.wrk!, target, load(target, LARGE, LARGE_PATH), logDirs, () => largeOk(target)));
      // direct and the forward proxies: what an https_proxy client's tunnel carries
      if (tools.curl && (!target.child || target.proxy)) tunnel.push(await measureTunnel(tools.curl, target, logDirs));
    } finally {
      if (target.child) await stop(target.child);
    }
  }
  await stopAll();
  return {
    phases: [
      { title: `Small responses (${SMALL_BODY.length}-byte body)`, wrkShape: `wrk -t${SMALL.threads} -c${SMALL.connections} -d${SMALL.seconds}s --latency`, seconds: SMALL.seconds, showThroughput: false, rows: small },
      { title: "1 MiB responses", wrkShape: `wrk -t${LARGE.threads} -c${LARGE.connections} -d${LARGE.seconds}s --latency`, seconds: LARGE.seconds, showThroughput: true, rows: large },
    ],
    tunnel: tunnel.length
      ? { title: `CONNECT tunnel — ${TUNNEL_DOWNLOADS} × \`curl -p -x PROXY ${TUNNEL_PATH}\` (1 GiB each, one after the other, after an unrecorded one; direct: the same curl without a proxy)`, rows: tunnel }
      : undefined,
  };
}

/** wrk's run of one path of a target in a load shape: straight to it, or through its forward proxy. */
function load(target: Target, shape: Shape, path: string): WrkRun {
  return { ...shape, url: target.url + path, host: target.host, proxy: target.proxy };
}

/** One measured wrk run, with the proxy's peak RSS, CPU time and new log problems over exactly that run. */
async function measure(wrk: string, target: Target, run: WrkRun, logDirs: string[], bodyOk: () => Promise<boolean>): Promise<Measurement> {
  console.log(`   ${run.url}${run.proxy ? ` via ${run.proxy}` : ""} (${run.seconds} s)`);
  const m = await observe(target, logDirs, () => runWrk(wrk, run), async () =>
    (await bodyOk().catch(() => false)) ? [] : [`GET ${new URL(run.url).pathname} after the run: wrong status or body`],
  );
  const r = m.result!;
  console.log(`   ${Math.round(r.rps)} req/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms${m.peakRss ? `, peak RSS ${(m.peakRss.kib / 1024).toFixed(1)} MiB` : ""}, other processes ${Math.round(((m.otherCpuSeconds ?? 0) / run.seconds) * 100)} % CPU`);
  return m;
}

/** The CONNECT tunnel downloads through a forward proxy (straight to the upstream for direct), measured like a wrk run. */
async function measureTunnel(curl: string, target: Target, logDirs: string[]): Promise<Measurement<TunnelResult>> {
  const url = target.url + TUNNEL_PATH;
  console.log(`   CONNECT tunnel: ${TUNNEL_DOWNLOADS} × ${url}${target.proxy ? ` via ${target.proxy}` : ""}`);
  // Unrecorded, like wrk's warm-up: the first download also reads the file into the page cache.
  await runTunnel(curl, url, TUNNEL_SIZE, 1, target.proxy);
  // status and size are checked per download by runTunnel; the body is the sparse file's zeros
  const m = await observe(target, logDirs, () => runTunnel(curl, url, TUNNEL_SIZE, TUNNEL_DOWNLOADS, target.proxy), async () => []);
  const r = m.result!;
  console.log(`   ${r.bytesPerSec.map((b) => Math.round(b / 1024 ** 2)).join(", ")} MiB/s${r.failures.length ? `, failed: ${r.failures.join("; ")}` : ""}, other processes ${Math.round(((m.otherCpuSeconds ?? 0) / r.seconds) * 100)} % CPU`);
  return m;
}

/**
 * Runs `run` and records what the proxy's process tree (peak RSS, CPU time) and the rest of the
 * machine did meanwhile, then `check`'s problems, and the error lines logged over exactly that span.
 */
async function observe<R>(target: Target, logDirs: string[], run: () => Promise<R>, check: () => Promise<string[]>): Promise<Measurement<R>> {
  const child = target.child;
  const problems: string[] = [];
  if (child && !resetPeakRss(child.pid)) problems.push("could not reset VmHWM: peak RSS covers the process lifetime");
  const logs = new LogWatch(logDirs);
  const cpu0 = child ? treeCpuSeconds(child.pid) : 0;
  const machine0 = cpuSnapshot();
  const result = await run();
  const cpuSeconds = child ? treeCpuSeconds(child.pid) - cpu0 : undefined;
  // Everything we started hangs below this process (wrk and curl have exited and are not in the
  // snapshot); what started us (npm, a shell) is ours too.
  const other = otherCpu(machine0, cpuSnapshot(), new Set([...processTree(process.pid), ...ancestors(process.pid)]));
  const peakRss = child ? treePeakRssKiB(child.pid) : undefined;
  problems.push(...(await check()));
  if (child && (child.proc.exitCode !== null || child.proc.signalCode !== null)) problems.push("the server process died during the run");
  return { target, result, peakRss, cpuSeconds, otherCpuSeconds: other.seconds, otherBusiest: other.busiest, problems, logLines: logs.newProblemLines() };
}

/** What a reader must know about the numbers: errors of any kind, and a machine that was not quiet. */
function findings(phases: Phase[], tunnel: RunInfo["tunnel"]): string[] {
  // Every measured row with where it is, its length in seconds, and what its tool reported as failed.
  const rows: { where: string; row: Measurement<unknown>; seconds: number; failed?: string }[] = [];
  for (const p of phases) {
    for (const row of p.rows) {
      const r = row.result;
      const failed = r && (r.errorStatus || Object.values(r.socketErrors).some((n) => n > 0));
      if (r) rows.push({ where: `${row.target.name}, ${p.title}`, row, seconds: p.seconds, failed: failed ? `wrk reported ${r.raw.split("\n").filter((l) => /errors|Non-2xx/.test(l)).map((l) => l.trim()).join("; ")}` : undefined });
    }
  }
  for (const row of tunnel?.rows ?? []) {
    const r = row.result;
    if (r) rows.push({ where: `${row.target.name}, CONNECT tunnel`, row, seconds: r.seconds, failed: r.failures.length ? `failed downloads: ${r.failures.join("; ")}` : undefined });
  }
  const notes: string[] = [];
  let clean = true;
  const noisy: string[] = [];
  const busiest = new Set<string>();
  for (const { where, row, seconds, failed } of rows) {
    for (const problem of [...(failed ? [failed] : []), ...row.problems]) {
      clean = false;
      notes.push(`${where}: ${problem}`);
    }
    if (row.logLines.length) {
      clean = false;
      notes.push(`${where}: ${countEvents(row.logLines)} errors/warnings in the server logs: ${summarize(row.logLines)}`);
    }
    const share = (row.otherCpuSeconds ?? 0) / seconds;
    if (share > NOISY) {
      noisy.push(`${Math.round(share * 100)} %`);
      for (const b of row.otherBusiest ?? []) busiest.add(b);
    }
  }
  if (clean) notes.push(`No wrk socket errors, no status ≥ 400, every body checked after each measurement was intact,${tunnel ? " every tunnel download complete with status 200," : ""} and no error or warning lines in any server log.`);
  if (noisy.length) {
    notes.push(
      `**The machine was not quiet:** in ${noisy.length} of ${rows.length} measurements, processes outside the benchmark used more than ${NOISY * 100} % of a core (${noisy.join(", ")}); busiest: ${[...busiest].slice(0, 4).map((b) => `\`${b}\``).join(", ")}. Those rows understate what the machine can do and their ratios are less reliable; rerun on an idle machine.`,
    );
  }
  return notes;
}

/** The route-matcher microbenchmark, if someone has written bench/matcher.ts; bounded like everything else. */
async function runMicro(): Promise<string | undefined> {
  const file = join(ROOT, "bench/matcher.ts");
  if (!existsSync(file)) return undefined;
  console.log("\n== micro: bench/matcher.ts");
  const p = Bun.spawn([process.execPath, "run", file, ...(opts.quick ? ["--quick"] : [])], { cwd: ROOT, stdout: "pipe", stderr: "pipe", timeout: 300_000, killSignal: "SIGKILL" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  return code === 0 ? out : `bench/matcher.ts exited ${code}\n${out}${err}`;
}

/** How this run was started, as a person would type it. */
function commandLine(): string {
  const args = Bun.argv.slice(2).join(" ");
  if (process.env.npm_lifecycle_event === "bench") return `npm run bench${args ? ` -- ${args}` : ""}`;
  return `bun run bench/run.ts${args ? ` ${args}` : ""}`;
}

await main().catch((e) => {
  console.error(`benchmark failed: ${(e as Error).stack ?? e}`);
  cleanupAndExit(1);
});
process.exit(0);
