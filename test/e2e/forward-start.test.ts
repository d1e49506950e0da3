/**
 * Issue 8: `npm start` turns the forward port on at 127.0.0.1:3128, next to the example routes.
 * The start script is read from package.json; its binary's argument list is run against the
 * compiled binary with every listen address swapped for a free loopback port (startProxy's
 * `-address` and `-support-listener` come first, the script's own flags after them).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, startProxy, type RunningProxy } from "../support/binary.ts";
import { curl } from "../support/curl.ts";

const START: string = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts.start;

/** The arguments the start script gives ./dist/sallyport, `-flag=value` split in two. */
function startArgs(script: string): string[] {
  const command = script
    .split("&&")
    .map((part) => part.trim())
    .find((part) => part.startsWith("./dist/sallyport "));
  if (command === undefined) throw new Error(`the start script runs no ./dist/sallyport: ${script}`);
  if (/["'\\$`]/.test(command)) throw new Error(`the start script quotes or expands; this parser only splits on blanks: ${command}`);
  return command
    .split(/\s+/)
    .slice(1)
    .flatMap((arg) => (/^-[a-z-]+=/.test(arg) ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg]));
}

/** The value the argument list gives `flag` (the last one wins, as with Go's flag package). */
const valueOf = (args: readonly string[], flag: string) => args[args.lastIndexOf(flag) + 1];

/** A listen address (`host:port`, `:port`, `[::1]:port`): where the test binds a free port instead. */
const isListenAddress = (arg: string) => /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):\d+$/.test(arg);

describe("npm start", () => {
  const args = startArgs(START);

  test("the start script runs the binary with -forward-address 127.0.0.1:3128 and the example routes", () => {
    expect(START).toMatch(/(^|\s)-forward-address[ =]127\.0\.0\.1:3128(\s|$)/);
    expect(valueOf(args, "-forward-address")).toBe("127.0.0.1:3128");
    expect(valueOf(args, "-routes-file")).toBe("examples/routes.eskip");
  });

  describe("its argument list, ports swapped for free ones", () => {
    let proxy: RunningProxy;
    beforeAll(async () => {
      proxy = await startProxy(args.map((arg) => (isListenAddress(arg) ? "127.0.0.1:0" : arg)));
    });
    afterAll(() => proxy?.stop());

    test("starts the forward port on 127.0.0.1 alongside the route listener", async () => {
      expect(proxy.forwardPort).toBeGreaterThan(0);
      expect(proxy.forwardPort).not.toBe(proxy.port);
      await proxy.waitForLog(new RegExp(`forward listener on 127\\.0\\.0\\.1:${proxy.forwardPort}\\b`));
    });

    test("the example routes are loaded: /routes lists them", async () => {
      const text = await (await fetch(`${proxy.supportUrl}/routes`)).text();
      for (const id of ["hello", "greet", "support", "fallback"]) expect(text).toMatch(new RegExp(`^${id}: `, "m"));
    });

    test("the forward port serves them too: an absolute-form GET for /hello is answered by the hello route, nothing dialed", async () => {
      // 127.0.0.1:9 would be refused by the private-address guard if the request reached the fallback.
      if (proxy.forwardUrl === undefined) throw new Error("no forward port");
      const res = await curl(["--noproxy", "", "-x", proxy.forwardUrl, "http://127.0.0.1:9/hello"]);
      expect(res.status).toBe(200);
      expect(res.body).toBe("Hello from sallyport!\n");
      const direct = await curl([`${proxy.url}/hello`]);
      expect(direct.body).toBe("Hello from sallyport!\n");
    });
  });
});
