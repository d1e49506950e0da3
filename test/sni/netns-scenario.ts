/**
 * @module
 * What test/e2e/sni.test.ts runs inside a private network namespace (`unshare -n`, as root): the
 * whole transparent-proxy setup of the issue, on this namespace's loopback only.
 *
 * - lo up; a TLS server for `api.test` and `denied.test` on 127.0.0.2:443 (a test CA), and the
 *   test DNS server answering both names with 127.0.0.2;
 * - the compiled binary (argv[2]) as uid 65534 with `-sni-address 127.0.0.1:10443`, the test DNS
 *   server, and an allow list of `api.test` only;
 * - the nftables rule that sends everyone's TCP to port 443 to the SNI port — everyone but the
 *   proxy's user, whose own dials to 127.0.0.2:443 must go out as they are:
 *   `tcp dport 443 meta skuid != 65534 redirect to :10443`;
 * - curl as root to `https://api.test/` (`--resolve api.test:443:127.0.0.2`, the test CA) and to
 *   `https://denied.test/`, none of them told about any proxy.
 *
 * Prints one JSON line: what curl and the upstream saw, the proxy's log lines and exit code.
 * Nothing here leaves the namespace: it has no interface but lo.
 */
import { startTestDns } from "../support/dns.ts";
import { signLeaf } from "../support/forward-tls.ts";
import { makeTestPki } from "../support/tls.ts";

export const SNI_PORT = 10443;
export const PROXY_UID = 65534;
export const UPSTREAM = "127.0.0.2";

export interface CurlRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ScenarioResult {
  readonly ruleset: string;
  /** to https://api.test/; stdout is the body, then a line `local_port remote_ip:remote_port verify_result` */
  readonly allowed: CurlRun;
  readonly denied: CurlRun;
  /** the peer of every request the upstream served, `address:port` */
  readonly upstreamSaw: readonly string[];
  readonly proxyLogs: readonly string[];
  readonly proxyExit: number;
}

async function run(argv: string[], stdin?: string): Promise<CurlRun> {
  const p = Bun.spawn(argv, { stdin: stdin === undefined ? "ignore" : new Blob([stdin]), stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" } });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

async function must(argv: string[], stdin?: string): Promise<string> {
  const r = await run(argv, stdin);
  if (r.code !== 0) throw new Error(`${argv.join(" ")} exited with ${r.code}: ${r.stderr}`);
  return r.stdout;
}

async function main(binary: string): Promise<ScenarioResult> {
  await must(["ip", "link", "set", "lo", "up"]);
  const pki = await makeTestPki();
  const leaf = await signLeaf(pki, ["api.test", "denied.test"]);
  const upstreamSaw: string[] = [];
  const upstream = Bun.serve({
    hostname: UPSTREAM,
    port: 443,
    tls: { key: leaf.key, cert: leaf.cert },
    fetch(req, server) {
      const peer = server.requestIP(req);
      upstreamSaw.push(`${peer?.address}:${peer?.port}`);
      return new Response(`hello from ${new URL(req.url).hostname}, seen from ${peer?.address}:${peer?.port}`);
    },
  });
  const dns = await startTestDns();
  dns.answer("api.test", { A: [UPSTREAM] });
  dns.answer("denied.test", { A: [UPSTREAM] });

  await must(["nft", "-f", "-"], `table ip nat {\n  chain output {\n    type nat hook output priority -100; policy accept;\n    tcp dport 443 meta skuid != ${PROXY_UID} redirect to :${SNI_PORT}\n  }\n}\n`);
  const ruleset = await must(["nft", "list", "ruleset"]);

  const proxy = Bun.spawn(
    [
      "setpriv",
      `--reuid=${PROXY_UID}`,
      `--regid=${PROXY_UID}`,
      "--clear-groups",
      "--",
      binary,
      "-address",
      "127.0.0.1:0",
      "-support-listener",
      "127.0.0.1:0",
      "-sni-address",
      `127.0.0.1:${SNI_PORT}`,
      "-dns-servers",
      dns.address,
      "-egress-allow",
      "api.test",
      "-egress-allow-private",
      "-shutdown-timeout",
      "2s",
    ],
    { cwd: "/", stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { PATH: "/usr/bin:/bin", HOME: "/", NO_COLOR: "1", TZ: "Etc/UTC" } },
  );
  const proxyLogs: string[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const bytes of stream) {
      buffered += decoder.decode(bytes, { stream: true });
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      proxyLogs.push(...lines);
    }
    if (buffered) proxyLogs.push(buffered);
  };
  const pumped = Promise.all([pump(proxy.stdout), pump(proxy.stderr)]);
  let exited: number | undefined;
  void proxy.exited.then((code) => (exited = code));
  const deadline = Date.now() + 10_000;
  while (!proxyLogs.some((l) => /sni listener on /.test(l))) {
    if (exited !== undefined || Date.now() > deadline) {
      proxy.kill("SIGKILL");
      await pumped;
      throw new Error(
        `the proxy never logged "sni listener on" (${exited === undefined ? "still running" : `exited with ${exited}`}); is -sni-address wired into the binary (src/app.ts)? logs:\n${proxyLogs.join("\n")}`,
      );
    }
    await Bun.sleep(20);
  }

  const curl = (name: string) =>
    run(["curl", "-sS", "--noproxy", "*", "--max-time", "10", "--resolve", `${name}:443:${UPSTREAM}`, "--cacert", pki.caFile, "-w", "\n%{local_port} %{remote_ip}:%{remote_port} %{ssl_verify_result}", `https://${name}/`]);
  const allowed = await curl("api.test");
  const denied = await curl("denied.test");

  proxy.kill("SIGTERM");
  const proxyExit = await proxy.exited;
  await pumped;
  upstream.stop(true);
  dns.stop();
  return { ruleset, allowed, denied, upstreamSaw, proxyLogs, proxyExit };
}

if (import.meta.main) {
  const binary = process.argv[2];
  if (!binary) throw new Error("usage: netns-scenario.ts <sallyport binary>");
  console.log(JSON.stringify(await main(binary)));
}
