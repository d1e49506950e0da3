/**
 * Issue 3 end to end: dist/sallyport with -credentials-paths on real temp files, a raw TCP
 * upstream that records the request bytes (the walkthrough's `nc -l 8080`), HTTPS upstreams for
 * "reach multiple services". Intervals are 1s where the tick matters and 1h where only a
 * file-system event or SIGHUP can explain the change; nothing sleeps through an interval.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBinary, ONE_PROCESS, startProxy, type RunningProxy } from "../support/binary.ts";
import { curl } from "../support/curl.ts";
import { writeK8sSecret } from "../support/k8s-secret.ts";
import { recordingUpstream, type RecordingUpstream } from "../support/recording-upstream.ts";
import { makeTestPki } from "../support/tls.ts";
import { echoServer, type Echo } from "../support/upstream.ts";

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));

/** A fresh `secrets` directory holding `files`, as `mkdir /tmp/secrets; echo … > /tmp/secrets/…`. */
async function secretsDir(files: Record<string, string> = {}): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "sallyport-e2e-secrets-"));
  dirs.push(root);
  const dir = join(root, "secrets");
  await mkdir(dir);
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
  return dir;
}

const injectRoute = (secret: string, upstream: RecordingUpstream) => `Host("host1") -> bearerinjector("${secret}") -> "http://127.0.0.1:${upstream.port}/"`;

async function startInjecting(dir: string, secret: string, upstream: RecordingUpstream, interval = "1s", ...extra: string[]): Promise<RunningProxy> {
  return startProxy([`-inline-routes=${injectRoute(secret, upstream)}`, `-credentials-paths=${dir}`, `-credentials-update-interval=${interval}`, ...extra]);
}

const get = (proxy: RunningProxy, host = "host1") => fetch(`${proxy.url}/foo`, { headers: { host } });

/**
 * Sends requests one at a time until the upstream receives `Bearer <want>`; every request on the
 * way must succeed and carry one of `allowed`. Returns how long the change took to show.
 */
async function rotateAndWatch(proxy: RunningProxy, upstream: RecordingUpstream, allowed: string[], want: string, limitMs: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    const res = await get(proxy);
    expect(res.status).toBe(200);
    await res.text();
    const auth = upstream.authorizations().at(-1)!;
    expect(allowed.map((t) => `Bearer ${t}`)).toContain(auth);
    if (auth === `Bearer ${want}`) return performance.now() - started;
    if (performance.now() - started > limitMs) throw new Error(`still ${auth} after ${limitMs} ms; logs:\n${proxy.logs.join("\n")}`);
  }
}

/** Polls until a request gets `status` (a change the proxy picks up asynchronously). */
async function untilStatus(proxy: RunningProxy, status: number, host = "host1"): Promise<Response> {
  for (let tries = 0; ; tries++) {
    const res = await get(proxy, host);
    if (res.status === status || tries > 400) return res;
    await res.text();
    await Bun.sleep(10);
  }
}

/** No log line holds a value; `paths` are cut out first, for secrets named like their value. */
function expectNoSecretIn(proxy: RunningProxy, values: string[], paths: string[] = []): void {
  const logs = paths.reduce((text, path) => text.replaceAll(path, "PATH"), proxy.logs.join("\n"));
  for (const value of values) expect(logs).not.toContain(value);
}

describe("Skipper's egress walkthrough with dist/sallyport", () => {
  test("Bearer mytoken; rewritten to changedtoken, it shows within two intervals, no restart, no failed request", async () => {
    const dir = await secretsDir({ mytoken: "mytoken\n" });
    const upstream = recordingUpstream();
    await using proxy = await startInjecting(dir, `${dir}/mytoken`, upstream);
    await proxy.waitForLog(new RegExp(`Added secret file: ${dir}/mytoken`));

    const first = await curl(["-H", "Host: host1", `${proxy.url}/foo`]);
    expect(first.status).toBe(200);
    const head = upstream.heads[0]!;
    expect(head).toStartWith("GET /foo HTTP/1.1\r\n");
    expect(head).toMatch(/\r\nAuthorization: Bearer mytoken\r\n/i);

    await writeFile(`${dir}/mytoken`, "changedtoken\n");
    const took = await rotateAndWatch(proxy, upstream, ["mytoken", "changedtoken"], "changedtoken", 2000);
    expect(took).toBeLessThan(2000);
    await proxy.waitForLog(new RegExp(`level=info msg="Updated secret file: ${dir}/mytoken"`));
    expect(proxy.proc.exitCode).toBeNull();
    expectNoSecretIn(proxy, ["mytoken", "changedtoken"], [`${dir}/mytoken`]);
    upstream.stop();
  });

  test('"reach multiple services": two HTTPS upstreams, two secrets', async () => {
    const pki = await makeTestPki();
    const [a, b] = [echoServer("a", pki), echoServer("b", pki)];
    const dir = await secretsDir({ "a-token": "token-for-a\n", "b-token": "token-for-b\n" });
    const routes = [
      `a: Host("a.localhost") -> bearerinjector("${dir}/a-token") -> "https://localhost:${a.port}"`,
      `b: Host("b.localhost") -> bearerinjector("${dir}/b-token") -> "https://localhost:${b.port}"`,
    ].join(";\n");
    await using proxy = await startProxy([`-inline-routes=${routes}`, `-credentials-paths=${dir}`, "-credentials-update-interval=1s", "-backend-ca-file", pki.caFile]);
    for (const [host, name, token] of [["a.localhost", "a", "token-for-a"], ["b.localhost", "b", "token-for-b"]] as const) {
      const res = await curl(["-H", `Host: ${host}`, `${proxy.url}/api`]);
      expect(res.status).toBe(200);
      const echo = JSON.parse(res.body) as Echo;
      expect({ name: echo.name, authorization: echo.headers["authorization"] }).toEqual({ name, authorization: `Bearer ${token}` });
    }
    const listed = await (await fetch(`${proxy.supportUrl}/routes`)).text();
    expect(listed).toContain(`bearerinjector("${dir}/a-token")`);
    expect(listed).not.toContain("token-for");
    expectNoSecretIn(proxy, ["token-for-a", "token-for-b"]);
    a.stop(true);
    b.stop(true);
  });
});

describe("rotation", () => {
  test("a Kubernetes volume's atomic ..data swap", async () => {
    const dir = await secretsDir();
    await writeK8sSecret(dir, { token: "k8s-v1\n" });
    const upstream = recordingUpstream();
    await using proxy = await startInjecting(dir, `${dir}/token`, upstream);
    await rotateAndWatch(proxy, upstream, ["k8s-v1"], "k8s-v1", 1000);
    await writeK8sSecret(dir, { token: "k8s-v2\n" });
    expect(await rotateAndWatch(proxy, upstream, ["k8s-v1", "k8s-v2"], "k8s-v2", 2000)).toBeLessThan(2000);
    await proxy.waitForLog(new RegExp(`Updated secret file: ${dir}/token`));
    expect(proxy.logs.filter((l) => l.includes("..data") || l.includes("..2024"))).toEqual([]);
    expectNoSecretIn(proxy, ["k8s-v"]);
    upstream.stop();
  });

  test("a new file in a watched directory is found at once (the tick is an hour away)", async () => {
    const dir = await secretsDir();
    const upstream = recordingUpstream();
    await using proxy = await startInjecting(dir, `${dir}/later`, upstream, "1h");
    expect((await get(proxy)).status).toBe(503);
    await writeFile(`${dir}/later`, "later-token\n");
    const res = await untilStatus(proxy, 200);
    expect(res.status).toBe(200);
    expect(upstream.authorizations()).toEqual(["Bearer later-token"]);
    await proxy.waitForLog(new RegExp(`Added secret file: ${dir}/later`));
    upstream.stop();
  });

  test("SIGHUP re-reads all secrets at once, in every worker", async () => {
    // The file sits in a subdirectory reached through a symlink: the watch on `dir` does not see
    // writes there, and the tick is an hour away, so only SIGHUP can pick the change up.
    const dir = await secretsDir();
    await mkdir(`${dir}/sub`);
    await writeFile(`${dir}/sub/token`, "hup-v1\n");
    await symlink("sub/token", `${dir}/token`);
    const upstream = recordingUpstream();
    await using proxy = await startInjecting(dir, `${dir}/token`, upstream, "1h", "-workers", "2");
    await proxy.waitForLog(/2 workers serving/);
    // One request first: it also proves main() has installed its SIGHUP handler.
    await rotateAndWatch(proxy, upstream, ["hup-v1"], "hup-v1", 1000);
    await writeFile(`${dir}/sub/token`, "hup-v2\n");
    proxy.proc.kill("SIGHUP");
    // The primary passes the signal on: both processes re-read before any request is sent again.
    for (const worker of [0, 1]) await proxy.waitForLog(new RegExp(`Updated secret file: ${dir}/token" worker=${worker}`));
    expect(proxy.logs.findIndex((l) => l.includes("SIGHUP"))).toBeLessThan(proxy.logs.findIndex((l) => l.includes("Updated secret file")));
    await rotateAndWatch(proxy, upstream, ["hup-v2"], "hup-v2", 1000);
    upstream.stop();
  });

  test("1,000 concurrent requests during a rotation: each carries the old or the new token, whole", async () => {
    const dir = await secretsDir({ token: "old-token-1111\n" });
    const upstream = recordingUpstream();
    await using proxy = await startInjecting(dir, `${dir}/token`, upstream);
    const total = 1000;
    let issued = 0;
    let done = 0;
    const statuses = new Map<number, number>();
    let rotated: Promise<void> | undefined;
    // 64 in flight at a time; the file is rewritten in place (truncate, then write, as `echo >`
    // does) once 200 requests are through, while the rest are still being sent.
    const worker = async () => {
      while (issued < total) {
        issued++;
        const res = await get(proxy);
        await res.text();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (++done === 200) rotated = writeFile(`${dir}/token`, "new-token-2222\n");
      }
    };
    await Promise.all(Array.from({ length: 64 }, worker));
    await rotated;
    expect(Object.fromEntries(statuses)).toEqual({ 200: total });
    const seen = upstream.authorizations();
    expect(seen).toHaveLength(total);
    const counts = Object.fromEntries(["Bearer old-token-1111", "Bearer new-token-2222"].map((v) => [v, seen.filter((s) => s === v).length]));
    expect(counts["Bearer old-token-1111"]! + counts["Bearer new-token-2222"]!).toBe(total);
    expect(counts["Bearer old-token-1111"]).toBeGreaterThanOrEqual(200);
    await rotateAndWatch(proxy, upstream, ["old-token-1111", "new-token-2222"], "new-token-2222", 2000);
    upstream.stop();
  });
});

describe("fail closed: an unavailable secret answers 503 and nothing reaches the upstream", () => {
  async function expectRefused(proxy: RunningProxy, upstream: RecordingUpstream, res?: Response): Promise<void> {
    const before = upstream.heads.length;
    res ??= await get(proxy);
    expect(res.status).toBe(503);
    expect(res.headers.get("x-sallyport-error")).toBe("secret-unavailable");
    expect(await res.text()).toBe("Service Unavailable: a credential this route needs is unavailable\n");
    expect(upstream.heads.length).toBe(before);
  }

  test("a removed file; the refusal is logged once per interval, not per request", async () => {
    const dir = await secretsDir({ token: "gone-soon\n" });
    const upstream = recordingUpstream();
    await using proxy = await startInjecting(dir, `${dir}/token`, upstream, "1h");
    expect((await get(proxy)).status).toBe(200);
    await rm(`${dir}/token`);
    await expectRefused(proxy, upstream, await untilStatus(proxy, 503));
    await proxy.waitForLog(new RegExp(`level=info msg="Removed secret file: ${dir}/token"`));
    const refusal = new RegExp(`level=error.*Secret \\\\"${dir}/token\\\\" is missing`);
    await proxy.waitForLog(refusal);
    for (let i = 0; i < 5; i++) await expectRefused(proxy, upstream);
    // The log is read from a pipe: a line on stderr after the five refusals proves any line they
    // logged has been read too, before it is counted.
    proxy.proc.kill("SIGUSR1");
    await proxy.waitForLog(/SIGUSR1: reopening the access log/);
    const refusals = proxy.logs.filter((l) => l.includes("level=error") && l.includes(`Secret \\"${dir}/token\\" is missing`));
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toContain("-credentials-paths");
    expectNoSecretIn(proxy, ["gone-soon"]);
    upstream.stop();
  });

  test("values with \\r\\n are refused, never sent (no header smuggling)", async () => {
    const dir = await secretsDir({ crlf: "crlf-token\r\n", smuggle: "tok\r\nX-Smuggled: yes\n" });
    const upstream = recordingUpstream();
    const routes = [`crlf: Host("crlf") -> bearerinjector("${dir}/crlf") -> "http://127.0.0.1:${upstream.port}"`, `smuggle: Host("smuggle") -> bearerinjector("${dir}/smuggle") -> "http://127.0.0.1:${upstream.port}"`].join(";");
    await using proxy = await startProxy([`-inline-routes=${routes}`, `-credentials-paths=${dir}`, "-credentials-update-interval=1s"]);
    await expectRefused(proxy, upstream, await get(proxy, "crlf"));
    await expectRefused(proxy, upstream, await get(proxy, "smuggle"));
    await proxy.waitForLog(new RegExp(`level=error msg="Invalid secret file, value refused: ${dir}/crlf: contains a control character \\(0x0d\\)"`));
    await proxy.waitForLog(new RegExp(`level=error msg="Invalid secret file, value refused: ${dir}/smuggle: contains a control character \\(0x0d\\)"`));
    expect(upstream.heads).toEqual([]);
    expectNoSecretIn(proxy, ["crlf-token", "tok\\r", "X-Smuggled"]);
    upstream.stop();
  });

  test("an unreadable file is refused, logged with its path, and recovers once readable", async () => {
    const dir = await secretsDir({ locked: "locked-token\n" });
    const path = `${dir}/locked`;
    await chmod(path, 0o000);
    // Root reads through mode 000; then a symlink loop stands in, which no user can read.
    const readable = await readFile(path).then(() => true, () => false);
    if (readable) {
      await rm(path);
      await symlink("locked", path);
    }
    const upstream = recordingUpstream();
    await using proxy = await startInjecting(dir, path, upstream);
    await proxy.waitForLog(new RegExp(`level=error msg="Failed to read secret file: ${path}: ${readable ? "ELOOP" : "EACCES"}"`));
    await expectRefused(proxy, upstream);
    if (readable) {
      await rm(path);
      await writeFile(path, "locked-token\n");
    } else {
      await chmod(path, 0o600);
    }
    expect((await untilStatus(proxy, 200)).status).toBe(200);
    expect(upstream.authorizations()).toEqual(["Bearer locked-token"]);
    upstream.stop();
  });
});

test("a -credentials-paths entry that does not exist stops the start with exit 2, naming it", async () => {
  const dir = await secretsDir();
  const missing = `${dir}/no-such-token`;
  const { code, stderr } = await runBinary(["-address", "127.0.0.1:0", "-support-listener", "", `-credentials-paths=${dir},${missing}`]);
  expect(code).toBe(2);
  expect(stderr).toContain(`Failed to start sallyport: -credentials-paths: ${missing} does not exist`);
  expect(stderr).not.toContain("Listen on");
});
