/**
 * The SNI port end to end, as it is deployed: the compiled binary with `-sni-address`, and an
 * nftables rule that redirects TCP to port 443 to it, so a client that knows nothing of a proxy
 * (curl to `https://api.test/`) reaches its server through it — and a name off the allow list does
 * not. Run in a private network namespace (`unshare -n`, as root) by ../sni/netns-scenario.ts:
 * the rule and every socket stay on that namespace's own loopback.
 *
 * Needs root, unshare, nft (nftables with the nat hook), setpriv, ip and curl; where any is
 * missing the test is skipped, and says why.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { BINARY, CREDENTIAL, ensureBinary, ROOT } from "../support/binary.ts";
import { PROXY_UID, SNI_PORT, UPSTREAM, type ScenarioResult } from "../sni/netns-scenario.ts";

/** Why the namespace test cannot run here; undefined when it can. */
async function unavailable(): Promise<string | undefined> {
  if (process.platform !== "linux") return `network namespaces are Linux-only (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return "needs root: unshare -n and nft change network namespaces";
  for (const tool of ["unshare", "nft", "setpriv", "ip", "curl"]) {
    if (!Bun.which(tool, { PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` })) return `${tool} is not installed${tool === "nft" ? " (apt-get install nftables)" : ""}`;
  }
  const probe = Bun.spawn(["unshare", "-n", "--", "sh", "-c", 'ip link set lo up && nft add table ip nat && nft add chain ip nat output "{ type nat hook output priority -100 ; }"'], {
    stdout: "ignore",
    stderr: "pipe",
    env: { PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` },
  });
  const [code, err] = await Promise.all([probe.exited, new Response(probe.stderr).text()]);
  if (code !== 0) return `a network namespace with an nftables nat chain cannot be made here: ${err.trim() || `exit ${code}`}`;
  return undefined;
}

const why = await unavailable();
if (why) console.warn(`test/e2e/sni.test.ts: skipped: ${why}`);

describe(`the SNI port behind an nftables redirect${why ? ` (skipped: ${why})` : ""}`, () => {
  let result: ScenarioResult;

  test.skipIf(why !== undefined)(
    "curl reaches api.test through the proxy, which the nft rule exempts from its own redirect; denied.test is refused",
    async () => {
      await ensureBinary();
      const scenario = Bun.spawn(["unshare", "-n", "--", process.execPath, "run", join(ROOT, "test/sni/netns-scenario.ts"), BINARY], {
        cwd: ROOT,
        stdout: "pipe",
        stderr: "pipe",
        env: { PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin`, HOME: process.env.HOME ?? "/tmp" },
      });
      const [stdout, stderr, code] = await Promise.all([new Response(scenario.stdout).text(), new Response(scenario.stderr).text(), scenario.exited]);
      if (code !== 0) throw new Error(`the namespace scenario failed (exit ${code}):\n${stderr}\n${stdout}`);
      result = JSON.parse(stdout.trim().split("\n").at(-1)!) as ScenarioResult;
      const logs = result.proxyLogs.join("\n");

      expect(result.ruleset).toContain(`tcp dport 443 meta skuid != ${PROXY_UID} redirect to :${SNI_PORT}`);

      // Allowed: curl verified the upstream's certificate for api.test and got its answer…
      expect({ code: result.allowed.code, stderr: result.allowed.stderr }).toEqual({ code: 0, stderr: "" });
      const [body, trailer] = result.allowed.stdout.split("\n");
      expect(body).toStartWith("hello from api.test, seen from ");
      const [curlLocalPort, curlRemote, verify] = trailer!.split(" ");
      // …believing it talked to 127.0.0.2:443 itself,
      expect(curlRemote).toBe(`${UPSTREAM}:443`);
      expect(verify).toBe("0");
      // …while the upstream's peer was the proxy's connection, not curl's.
      expect(result.upstreamSaw).toHaveLength(1);
      expect(result.upstreamSaw[0]!.split(":").pop()).not.toBe(curlLocalPort);
      // The proxy's access log has the tunnel, and the egress decision allowed it.
      expect(logs).toMatch(/"SNI api\.test:443 TLS" 200 \d+ .* \d+ api\.test:443 allow-rule/);

      // Denied: curl's handshake ends in the proxy's access_denied alert, and nothing reached the upstream.
      expect(result.denied.code).not.toBe(0);
      expect(result.denied.stderr).toMatch(/access denied/i);
      expect(logs).toMatch(/"SNI denied\.test:443 TLS" 403 0 /);
      expect(logs).toMatch(/egress deny .*host=\\?"denied\.test\\?" port=443 .*reason=not-in-allow-list/);

      expect(result.proxyExit).toBe(0);
      const leaked = result.proxyLogs.filter((line) => CREDENTIAL.test(line));
      expect(leaked).toEqual([]);
    },
    60_000,
  );
});
