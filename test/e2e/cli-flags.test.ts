/** Flag values and Skipper-only flags through the compiled binary: the start succeeds, fails with exit 2, or warns. */
import { describe, expect, test } from "bun:test";
import { mkdtemp, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBinary, startProxy } from "../support/binary.ts";
import { curl } from "../support/curl.ts";
import { makeTestPki } from "../support/tls.ts";

describe("flag values", () => {
  // citty's parser once ran over argv too, and threw `true is not iterable` on this.
  test("-credentials-paths=… with _ in the path starts", async () => {
    const dir = join(await mkdtemp(join(tmpdir(), "sallyport-flags-")), "my_app-1.d");
    await mkdir(dir);
    await using proxy = await startProxy([`-credentials-paths=${dir}`, "-backend-ca-file=", "-max-loopbacks=1_0"]);
    expect(proxy.logs.join("\n")).not.toContain("is not iterable");
  });

  test("-address with an impossible IPv4: the flag's error, exit 2", async () => {
    const r = await runBinary(["-address=999.1.1.1:8080", "-support-listener="]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('invalid value "999.1.1.1:8080" for flag -address: invalid IP address "999.1.1.1"\n');
  });
});

describe("Skipper flags that do nothing yet", () => {
  test("start, with one warning each and one for -insecure", async () => {
    await using proxy = await startProxy([
      "-insecure",
      "-enable-prometheus-metrics",
      "-metrics-listener=:9912",
      "-remove-hop-headers",
      "-max-idle-connection-backend=64",
      "-close-idle-conns-period=20s",
    ]);
    const warnings = proxy.logs.filter((line) => line.includes("level=warning")).map((line) => /msg="(.*)"( worker=\d+)?$/.exec(line)?.[1] ?? line);
    expect(warnings[0]).toBe("-insecure: TLS certificates of backends are not verified");
    // One each, in flag table order.
    expect(warnings.slice(1).map((warning) => /^flag -(\S+) is accepted for Skipper compatibility but /.exec(warning)?.[1])).toEqual([
      "metrics-listener",
      "remove-hop-headers",
      "max-idle-connection-backend",
      "close-idle-conns-period",
      "enable-prometheus-metrics",
    ]);
  });
});

describe("-insecure", () => {
  test("a backend whose certificate nobody vouches for: 502 tls-failed, and 200 with -insecure", async () => {
    const pki = await makeTestPki();
    const backend = Bun.serve({ hostname: "127.0.0.1", port: 0, tls: { key: pki.key, cert: pki.cert }, fetch: () => new Response("over tls") });
    try {
      const route = `* -> "https://127.0.0.1:${backend.port}"`;
      await using strict = await startProxy(["-inline-routes", route]);
      const refused = await curl([strict.url + "/"]);
      expect([refused.status, refused.headers["x-sallyport-error"]]).toEqual([502, "tls-failed"]);
      await using insecure = await startProxy(["-insecure", "-inline-routes", route]);
      const served = await curl([insecure.url + "/"]);
      expect([served.status, served.body]).toEqual([200, "over tls"]);
    } finally {
      backend.stop(true);
    }
  });
});
