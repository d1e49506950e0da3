/**
 * @module
 * What the benchmark needs on the machine: the servers and wrk from Debian (installed here with
 * apt-get when missing, so a fresh machine needs nothing by hand), and a current dist/sallyport.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";

/** binary → Debian package. nginx (bookworm: the core build) is both the upstream and a contender; curl makes the big transfers; redis-server keeps the cluster rate limit of scenario 3b. */
const PACKAGES: Record<string, string> = { wrk: "wrk", nginx: "nginx", haproxy: "haproxy", squid: "squid", tinyproxy: "tinyproxy", curl: "curl", "redis-server": "redis-server" };

/** Absolute path of a tool, also looking in the sbin dirs a non-root PATH may lack. */
export function which(tool: string): string | undefined {
  return Bun.which(tool) ?? ["/usr/sbin", "/sbin", "/usr/local/sbin"].map((d) => join(d, tool)).find((p) => existsSync(p));
}

/** Runs a command to completion (bounded); `out` is stdout + stderr, `stdout` alone for parsing. */
async function sh(cmd: string[], timeoutMs: number, env?: Record<string, string>): Promise<{ code: number; out: string; stdout: string }> {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", timeout: timeoutMs, killSignal: "SIGKILL", env: { ...process.env, ...env } });
  const [stdout, stderr] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code: await p.exited, out: stdout + stderr, stdout };
}

/**
 * Installs the missing tools (all of the bench's, or those `wanted`) with apt-get (an `update` first only if the plain install fails,
 * i.e. the package lists are empty or stale). Services are not started by us: each server runs
 * as our own foreground child with its own config. (On Debian images /usr/sbin/policy-rc.d
 * usually keeps postinst from starting the system services; if it does start them, they listen
 * on their default ports, which this benchmark never uses.)
 */
export async function ensureTools(wanted: readonly string[] = Object.keys(PACKAGES)): Promise<Record<string, string>> {
  const missing = wanted.filter((t) => !which(t));
  if (missing.length) {
    const pkgs = missing.map((t) => PACKAGES[t]!);
    console.log(`installing with apt-get: ${pkgs.join(" ")}`);
    const env = { DEBIAN_FRONTEND: "noninteractive" };
    const install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", ...pkgs];
    let r = await sh(install, 600_000, env);
    if (r.code !== 0) {
      await sh(["apt-get", "update", "-q"], 600_000, env);
      r = await sh(install, 600_000, env);
    }
    if (r.code !== 0) console.warn(`apt-get install failed (exit ${r.code}); targets needing ${pkgs.join(", ")} are skipped:\n${r.out.slice(-2000)}`);
  }
  const found: Record<string, string> = {};
  for (const tool of wanted) {
    const path = which(tool);
    if (path) found[tool] = path;
  }
  return found;
}

/**
 * dist/sallyport, built when it is missing (a fresh checkout) or when `force` is set. A binary older
 * than src/ is not rebuilt behind the developer's back (the tree may be mid-edit); it is measured
 * and the report says it is stale.
 */
export async function ensureBinary(root: string, force: boolean): Promise<{ bin: string; stale: boolean }> {
  const bin = join(root, "dist/sallyport");
  if (force || !existsSync(bin)) {
    console.log(force ? "building dist/sallyport (--build)" : "dist/sallyport missing: building");
    // process.execPath is the bun running this script.
    const r = await sh([process.execPath, "run", "build.ts"], 300_000);
    if (r.code !== 0 || !existsSync(bin)) throw new Error(`build failed (exit ${r.code}):\n${r.out}`);
  }
  const stale = statSync(bin).mtimeMs < newestMtime(join(root, "src"));
  if (stale) console.warn("warning: dist/sallyport is older than src/; pass --build to measure the current source");
  return { bin, stale };
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/** First line of a tool's version output (nginx and squid print to stderr, wrk exits non-zero). */
export async function versionOf(cmd: string[]): Promise<string> {
  const r = await sh(cmd, 10_000).catch(() => ({ out: "" }));
  return r.out.split("\n").find((l) => l.trim())?.trim() ?? "unknown";
}

export async function versions(tools: Record<string, string>, sallyport: string): Promise<Record<string, string>> {
  const v: Record<string, string> = {
    bun: `${Bun.version} (${Bun.revision.slice(0, 9)})`,
    sallyport: (await versionOf([sallyport, "-version"])).replace(/^sallyport /, ""),
    kernel: await versionOf(["uname", "-r"]),
  };
  if (tools.nginx) v.nginx = (await versionOf([tools.nginx, "-v"])).replace(/^nginx version: /, "");
  if (tools.haproxy) v.haproxy = (await versionOf([tools.haproxy, "-v"])).replace(/^HAProxy version (\S+).*$/, "$1");
  if (tools.squid) v.squid = (await versionOf([tools.squid, "-v"])).replace(/^Squid Cache: Version /, "");
  if (tools.tinyproxy) v.tinyproxy = (await versionOf([tools.tinyproxy, "-v"])).replace(/^tinyproxy /, "");
  if (tools.wrk) v.wrk = (await versionOf([tools.wrk, "-v"])).replace(/^wrk (\S+).*$/, "$1");
  if (tools["redis-server"]) v.redis = (await versionOf([tools["redis-server"], "--version"])).replace(/^Redis server v=(\S+).*$/, "$1");
  if (tools.curl) v.curl = (await versionOf([tools.curl, "-V"])).replace(/^curl (\S+).*$/, "$1");
  return v;
}

/** How a bench script was started, as a person would type it: `npm run NAME -- ARGS` or `bun run FILE ARGS`. */
export function commandLine(npmScript: string, file: string): string {
  const args = Bun.argv.slice(2).join(" ");
  if (process.env.npm_lifecycle_event === npmScript) return `npm run ${npmScript}${args ? ` -- ${args}` : ""}`;
  return `bun run ${file}${args ? ` ${args}` : ""}`;
}

export async function gitDescribe(root: string): Promise<string> {
  // Read-only: which commit was measured, and whether the tree had local changes.
  const head = await sh(["git", "-C", root, "rev-parse", "--short", "HEAD"], 10_000).catch(() => undefined);
  if (!head || head.code !== 0) return "unknown (not a git checkout)";
  const dirty = (await sh(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"], 10_000)).stdout.trim();
  return `${head.stdout.trim()}${dirty ? " + uncommitted changes" : ""}`;
}

export function machine(): { cpus: number; model: string; memGiB: string } {
  let model = "unknown";
  let memGiB = "?";
  try {
    model = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? model;
    const kb = Number(/^MemTotal:\s+(\d+)/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1]);
    memGiB = (kb / 1024 / 1024).toFixed(1);
  } catch {
    // not Linux: leave unknown
  }
  return { cpus: availableParallelism(), model, memGiB };
}
