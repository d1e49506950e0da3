/**
 * deploy/systemd: the unit passes `systemd-analyze verify` and scores as hardened in
 * `systemd-analyze security --offline`, says what issue 9 asks for, and its command lines work
 * as systemd would run them: ExecStart starts the binary with the env file's and the
 * credentials directory's values, ExecStartPost sees it ready (and fails fast when it is not),
 * ExecReload's SIGHUP re-reads the routes, KillSignal stops it well within TimeoutStopSec.
 * (Booting it under a real systemd is not part of the suite; the README says what was run.)
 */
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY, childEnv, ensureBinary } from "../support/binary.ts";
import { DEPLOY, durationMs, flagValue, freePort, parseEnvFile, parseUnit, run, setting, splitCommand, timespanMs, which, withFlag } from "./deploy.ts";

const UNIT_PATH = join(DEPLOY, "systemd/sallyport.service");
const ENV_PATH = join(DEPLOY, "systemd/sallyport.env");
const ROUTES_PATH = join(DEPLOY, "systemd/routes.eskip");
const INSTALLED_BINARY = "/usr/local/bin/sallyport";

const unitText = await Bun.file(UNIT_PATH).text();
const unit = parseUnit(unitText);
const service = (key: string) => setting(unit, "Service", key);
const execStart = (env: Record<string, string>) => splitCommand(service("ExecStart")!, env);

const scratch = mkdtempSync(join(tmpdir(), "sallyport-systemd-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const analyze = which("systemd-analyze");
const NO_ANALYZE = "systemd-analyze is not installed (apt-get install systemd; .ci/run installs it)";

/**
 * `systemd-analyze verify` checks that ExecStart's binary exists. As root, a private mount
 * namespace lays a tmpfs with a stand-in executable over /usr/local/bin, so the unit is verified
 * exactly as shipped against this machine's systemd; elsewhere a copy whose ExecStart points at
 * a stand-in elsewhere is verified. Every line of output is a finding, so any output fails.
 */
async function verify(unitPath: string): Promise<{ code: number; output: string; how: string }> {
  const canUnshare = process.getuid?.() === 0 && which("unshare") !== undefined && (await run(["unshare", "--mount", "true"])).code === 0;
  if (canUnshare) {
    const script = `mount -t tmpfs tmpfs /usr/local/bin && install -m 0755 /dev/null ${INSTALLED_BINARY} && exec systemd-analyze verify --man=no "$0"`;
    const r = await run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, unitPath]);
    return { code: r.code, output: (r.stdout + r.stderr).trim(), how: "as shipped, with a stand-in binary in a private mount namespace" };
  }
  const standIn = join(scratch, "sallyport-stand-in");
  writeFileSync(standIn, "#!/bin/sh\n", { mode: 0o755 });
  const copy = join(mkdtempSync(join(scratch, "unit-")), "sallyport.service");
  writeFileSync(copy, (await Bun.file(unitPath).text()).replaceAll(INSTALLED_BINARY, standIn));
  const r = await run([analyze!, "verify", "--man=no", copy]);
  return { code: r.code, output: (r.stdout + r.stderr).trim(), how: "a copy with ExecStart pointing at a stand-in" };
}

describe.skipIf(analyze === undefined)(`systemd-analyze${analyze === undefined ? ` (skipped: ${NO_ANALYZE})` : ""}`, () => {
  test("verify passes with no finding at all", async () => {
    const result = await verify(UNIT_PATH);
    expect({ code: result.code, output: result.output }).toEqual({ code: 0, output: "" });
  });

  test("verify does find a broken unit (a misspelt key), so a pass means something", async () => {
    const broken = join(mkdtempSync(join(scratch, "broken-")), "sallyport.service");
    writeFileSync(broken, unitText.replace("ProtectHome=yes", "ProtectHomee=yes"));
    const result = await verify(broken);
    expect(result.output).toContain("Unknown key 'ProtectHomee'");
  });

  test("security --offline rates the exposure 2.0 or lower (the scale is 0 to 10)", async () => {
    const r = await run([analyze!, "security", "--offline=yes", "--threshold=20", "--no-pager", UNIT_PATH]);
    const level = /Overall exposure level for sallyport\.service: ([\d.]+)/.exec(r.stdout)?.[1];
    expect({ code: r.code, level: Number(level) <= 2 }).toEqual({ code: 0, level: true });
  });
});

describe("what the unit says", () => {
  test.each<[string, string]>([
    ["Type", "exec"],
    ["DynamicUser", "yes"],
    ["NoNewPrivileges", "yes"],
    ["ProtectSystem", "strict"],
    ["PrivateTmp", "yes"],
    ["CapabilityBoundingSet", ""],
    ["AmbientCapabilities", ""],
    ["KillSignal", "SIGTERM"],
    ["Restart", "on-failure"],
    ["ExecReload", "/bin/kill -HUP $MAINPID"],
    ["EnvironmentFile", "-/etc/sallyport/sallyport.env"],
  ])("%s=%s", (key, value) => {
    expect(service(key)).toBe(value);
  });

  test("no MemoryDenyWriteExecute: Bun's JIT needs writable executable memory", () => {
    expect(service("MemoryDenyWriteExecute")).toBeUndefined();
  });

  test("the binary at /usr/local/bin, the routes file in /etc/sallyport, secrets from $CREDENTIALS_DIRECTORY", () => {
    const argv = execStart({});
    expect(argv[0]).toBe(INSTALLED_BINARY);
    expect(flagValue(argv, "routes-file")).toBe("/etc/sallyport/routes.eskip");
    expect(service("ExecStart")).toContain("-credentials-paths=${CREDENTIALS_DIRECTORY}");
    expect(execStart({ CREDENTIALS_DIRECTORY: "/run/credentials/sallyport.service" })).toContain("-credentials-paths=/run/credentials/sallyport.service");
    const credentials = unit.get("Service")!.get("LoadCredential") ?? [];
    expect(credentials.length).toBeGreaterThan(0);
    for (const entry of credentials) expect(entry).toMatch(/^[\w.-]+:\/etc\/sallyport\/credentials\/[\w.-]+$/);
  });

  test("every secret the routes name is a LoadCredential= file in the credentials directory", async () => {
    const names = (unit.get("Service")!.get("LoadCredential") ?? []).map((entry) => entry.split(":")[0]);
    const routes = await Bun.file(ROUTES_PATH).text();
    const used = [...routes.matchAll(/bearerinjector\("([^"]+)"\)/g)].map((m) => m[1]!);
    expect(used.length).toBeGreaterThan(0);
    for (const path of used) expect(names.map((n) => `/run/credentials/sallyport.service/${n}`)).toContain(path);
  });

  test("the listeners: proxy, forward port 3128 and support listener on loopback, none below 1024", () => {
    const argv = execStart({});
    expect(flagValue(argv, "forward-address")).toBe("127.0.0.1:3128");
    for (const flag of ["address", "forward-address", "support-listener"]) {
      const address = flagValue(argv, flag)!;
      expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(Number(address.split(":")[1])).toBeGreaterThanOrEqual(1024);
    }
  });

  test("ExecStartPost polls /readyz on the support listener, bounded by timeout(1) and TimeoutStartSec", () => {
    const post = service("ExecStartPost")!;
    const support = flagValue(execStart({}), "support-listener");
    expect(post).toContain(`http://${support}/readyz`);
    const argv = splitCommand(post, { MAINPID: "1" });
    expect(argv.slice(0, 2)).toEqual(["/usr/bin/timeout", "30"]);
    expect(timespanMs(service("TimeoutStartSec")!)).toBeGreaterThan(30_000);
  });

  test("TimeoutStopSec is longer than the drain: -wait-for-healthcheck-interval plus -shutdown-timeout", () => {
    const argv = execStart(parseEnvFile(readFileSync(ENV_PATH, "utf8")));
    const wait = durationMs(flagValue(argv, "wait-for-healthcheck-interval") ?? "0");
    const shutdown = durationMs(flagValue(argv, "shutdown-timeout") ?? "30s");
    expect(timespanMs(service("TimeoutStopSec")!)).toBeGreaterThan(wait + shutdown);
  });

  test("the routes file passes sallyport check", async () => {
    await ensureBinary();
    const r = await run([BINARY, "check", ROUTES_PATH], { env: childEnv() });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
  });
});

/** A unit's command run the way systemd would run it here: argv split with `env`, the binary swapped in. */
function spawnLine(argv: string[]) {
  return Bun.spawn(argv, { env: childEnv(), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
}

describe("the unit's command lines, run as systemd runs them", () => {
  test("start, readiness, reload, stop", async () => {
    await ensureBinary();
    const credentials = mkdtempSync(join(scratch, "credentials-"));
    for (const entry of unit.get("Service")!.get("LoadCredential") ?? []) writeFileSync(join(credentials, entry.split(":")[0]!), "token\n", { mode: 0o400 });
    const routes = join(scratch, "routes.eskip");
    copyFileSync(ROUTES_PATH, routes);

    // ExecStart with the env file's words and $CREDENTIALS_DIRECTORY, as systemd expands them;
    // then only what a test needs changed: this build, free loopback ports, a copy of the routes.
    const env = { ...parseEnvFile(await Bun.file(ENV_PATH).text()), CREDENTIALS_DIRECTORY: credentials };
    const support = freePort();
    let argv = execStart(env);
    argv = [BINARY, ...argv.slice(1)];
    argv = withFlag(argv, "address", "127.0.0.1:0");
    argv = withFlag(argv, "forward-address", "127.0.0.1:0");
    argv = withFlag(argv, "support-listener", `127.0.0.1:${support}`);
    argv = withFlag(argv, "routes-file", routes);
    // No polling within the test: only the reload's SIGHUP can make the edit below visible.
    argv.push("-source-poll-timeout=3600000");
    const main = spawnLine(argv);
    const logs: string[] = [];
    void (async () => {
      for await (const chunk of main.stderr) logs.push(new TextDecoder().decode(chunk));
    })();
    try {
      // ExecStartPost right away, as systemd runs it once the process is exec'd: it waits for /readyz.
      const supportUrl = `http://127.0.0.1:${support}`;
      const postLine = () => service("ExecStartPost")!.replace("127.0.0.1:9911/readyz", `127.0.0.1:${support}/readyz`);
      const post = await run(splitCommand(postLine(), { MAINPID: String(main.pid) }), { timeoutMs: 35_000 });
      expect({ post: post.code, stderr: post.stderr }).toEqual({ post: 0, stderr: "" });

      // ExecReload: the routes file changes, SIGHUP makes it current at once.
      writeFileSync(routes, `${await Bun.file(ROUTES_PATH).text()}\nreloaded: Path("/reloaded") -> inlineContent("yes") -> <shunt>;\n`);
      const reload = await run(splitCommand(service("ExecReload")!, { MAINPID: String(main.pid) }));
      expect(reload.code).toBe(0);
      let count = "";
      for (let i = 0; i < 100 && count !== "2"; i++) {
        count = (await fetch(`${supportUrl}/routes`, { method: "HEAD" })).headers.get("x-count") ?? "";
        if (count !== "2") await Bun.sleep(50);
      }
      expect(count).toBe("2");
      expect(logs.join("")).toContain("SIGHUP");

      // KillSignal: a clean exit, far within TimeoutStopSec.
      const started = performance.now();
      main.kill(service("KillSignal") as NodeJS.Signals);
      expect(await main.exited).toBe(0);
      expect(performance.now() - started).toBeLessThan(timespanMs(service("TimeoutStopSec")!));

      // The readiness loop gives up at once on a main process that is gone.
      const stale = performance.now();
      const failed = await run(splitCommand(postLine(), { MAINPID: String(main.pid) }), { timeoutMs: 35_000 });
      expect(failed.code).not.toBe(0);
      expect(performance.now() - stale).toBeLessThan(10_000);
    } finally {
      main.kill("SIGKILL");
    }
  }, 60_000);
});

