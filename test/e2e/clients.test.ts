/**
 * Clients other than curl reach services through Host routes: wget and python3 requests, as the
 * applications behind an egress proxy would.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Server } from "bun";
import { startProxy, type RunningProxy } from "../support/binary.ts";
import { echoServer, type Echo } from "../support/upstream.ts";

let upstream: Server<undefined>;
let proxy: RunningProxy;

beforeAll(async () => {
  upstream = echoServer("svc");
  proxy = await startProxy(["-inline-routes", `svc: Host("^svc[.]localhost(:[0-9]+)?$") -> setRequestHeader("X-Injected", "yes") -> "http://127.0.0.1:${upstream.port}"`]);
});

afterAll(async () => {
  await proxy?.stop();
  upstream?.stop(true);
});

async function run(cmd: string[]): Promise<string> {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", no_proxy: "*" } });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${cmd[0]} exited ${code}: ${err}`);
  return out;
}

test("wget", async () => {
  const out = await run(["wget", "-q", "-O", "-", "--header", "Host: svc.localhost", `${proxy.url}/from-wget`]);
  const echo = JSON.parse(out) as Echo;
  expect(echo.url).toEndWith("/from-wget");
  expect(echo.headers["x-injected"]).toBe("yes");
});

test("python3 requests", async () => {
  const script = `import requests, sys
r = requests.post(sys.argv[1], headers={"Host": "svc.localhost"}, data=b"payload")
print(r.status_code)
print(r.text)`;
  const [status, body] = (await run(["python3", "-c", script, `${proxy.url}/from-python`])).split("\n");
  expect(status).toBe("200");
  const echo = JSON.parse(body!) as Echo;
  expect(echo.method).toBe("POST");
  expect(echo.headers["x-injected"]).toBe("yes");
  expect(echo.headers["content-length"]).toBe("7");
});
