/** `sallyport check`, run in-process: what it reports for files the proxy would refuse or misroute. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCheck, runCheckCommand } from "../../src/cli/check.ts";
import { runCli } from "../../src/cli/index.ts";
import { makeFifo, withoutHanging } from "../routing/fifo.ts";

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function routesFile(text: string, name = "routes.eskip"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "sallyport-check-"));
  dirs.push(dir);
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

/** The exit code and the report lines of `sallyport check ...files`. */
async function check(...files: string[]): Promise<{ code: number; lines: string[] }> {
  let written = "";
  const code = await runCheck(files, { write: (text) => (written += text) });
  return { code, lines: written.split("\n").filter(Boolean) };
}

describe("unreadable files", () => {
  test("a FIFO is reported as not a regular file, without waiting for a writer", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sallyport-check-"));
    dirs.push(dir);
    const fifo = join(dir, "fifo");
    await makeFifo(fifo);
    expect(await withoutHanging(fifo, () => check(fifo))).toEqual({ code: 1, lines: [`${fifo}: cannot read: not a regular file`] });
  });
});

describe("load balancer algorithms", () => {
  test.each(["toString", "__proto__"])("<%s, ...> is reported at the route, exit 1", async (name) => {
    const file = await routesFile(`ok: * -> <shunt>;\n\nlb: Path("/x")\n  -> <${name}, "http://a", "http://b">;\n`);
    expect(await check(file)).toEqual({
      code: 1,
      lines: [
        `${file}:3:1: route lb: failed_backend_split: unsupported algorithm "${name}" (supported: roundRobin, random, consistentHash, powerOfRandomNChoices)`,
      ],
    });
  });
});

describe("duplicate route ids", () => {
  test("within one file: reported at the later definition with the earlier one, exit 1", async () => {
    const file = await routesFile(`x: * -> <shunt>;\ny: * -> <shunt>;\n  x: Path("/x") -> <shunt>;\n`);
    expect(await check(file)).toEqual({ code: 1, lines: [`${file}:3:3: duplicate route id "x" (also defined at ${file}:1:1)`] });
  });

  test("across files, in file and line order among the other problems", async () => {
    const first = await routesFile(`x: * -> <shunt>;\nbad: * -> noSuch() -> <shunt>;\n`, "first.eskip");
    const second = await routesFile(`\nx: * -> <shunt>;\n`, "second.eskip");
    expect(await check(first, second)).toEqual({
      code: 1,
      lines: [
        `${first}:2:11: route bad: unknown_filter: unknown filter "noSuch"`,
        `${second}:2:1: duplicate route id "x" (also defined at ${first}:1:1)`,
      ],
    });
  });

  test("distinct ids pass", async () => {
    const file = await routesFile(`x: * -> <shunt>;\ny: * -> <shunt>;\n`);
    expect(await check(file)).toEqual({ code: 0, lines: [] });
  });
});

/** `sallyport check ARGV...` through the real CLI: flags validated as serve does, then the files they name. */
async function checkCommandLine(...argv: string[]): Promise<{ code: number; lines: string[] }> {
  let written = "";
  const out = { write: (text: string) => void (written += text) };
  const code = await runCli(["check", ...argv], { serve: () => 0, check: (request) => runCheckCommand(request, out), caInit: async () => 0, eskipParse: async () => 0, explain: async () => 0, testPolicy: async () => 0 }, { stdout: out, stderr: out });
  return { code, lines: written.split("\n").filter(Boolean) };
}

/** A command line naming one problem of each kind of file: a route, inline routes, an egress line, a role, an htpasswd line, a secrets path, a certificate. */
async function badFiles() {
  const routes = await routesFile('r: * -> "http://127.0.0.1:1";\nbad: * -> nosuchfilter() -> <shunt>;');
  const allow = await routesFile("api.example.com\n300.1.2.3/8\n", "allow.txt");
  const roles = await routesFile("[billing]\nallow nonsense entry\n[default]\n", "roles.txt");
  const htpasswd = await routesFile("alice:$apr1$abc$def\n", "htpasswd");
  const cert = await routesFile("not a certificate\n", "tls.crt");
  const argv = [
    "-inline-routes", 'i: Path("/x" -> <shunt>',
    "-routes-file", routes,
    "-egress-allow-file", allow,
    "-egress-roles-file", roles,
    "-credentials-paths", "/nonexistent/sallyport-secrets",
    "-forward-auth-file", htpasswd,
    "-tls-cert", cert,
    "-tls-key", cert,
  ];
  return { argv, routes, allow, roles, htpasswd, cert };
}

describe("the whole command line", () => {
  test("a good command line and its files: silent, exit 0", async () => {
    const routes = await routesFile('r: * -> "http://127.0.0.1:1";');
    const allow = await routesFile("api.example.com\n*.corp.example\n", "allow.txt");
    expect(await checkCommandLine("-routes-file", routes, "-egress-allow-file", allow, "-inline-routes", "i: Path(\"/x\") -> <shunt>")).toEqual({ code: 0, lines: [] });
  });

  test("a bad flag value is reported as serve words it, exit 1 (the files of an invalid command line are not read)", async () => {
    const { code, lines } = await checkCommandLine("-connect-ports", "443,99999", ...(await badFiles()).argv);
    expect(code).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toStartWith('invalid value "443,99999" for flag -connect-ports');
  });

  test("several bad flag values: each one is listed in the same run, exit 1", async () => {
    const { code, lines } = await checkCommandLine(
      "-egress-allow", "api.example.com,300.1.2.3/8",
      "-dns-lookup-family", "v5",
      "-connect-ports", "443,0",
      "-tls-client-auth", "maybe",
      "-default-http-status", "1000",
      "-routes-file", "/nonexistent/sallyport-routes.eskip",
    );
    expect(code).toBe(1);
    expect(lines.toSorted()).toEqual([
      'invalid value "1000" for flag -default-http-status: must be an HTTP status between 200 and 599',
      'invalid value "443,0" for flag -connect-ports: entry "0": not a port (1–65535)',
      'invalid value "api.example.com,300.1.2.3/8" for flag -egress-allow: entry "300.1.2.3/8": a CIDR needs an IP address before the `/`',
      'invalid value "maybe" for flag -tls-client-auth: must be none, request or require',
      'invalid value "v5" for flag -dns-lookup-family: not a lookup family, use any, v4 or v6 (or Envoy\'s AUTO, V4_ONLY, V6_ONLY)',
    ]);
    // The missing -routes-file is a file problem: an invalid command line's files are not read.
    expect(lines.join("\n")).not.toContain("/nonexistent/sallyport-routes.eskip");
  });

  test("a flag the parser cannot take stops at the first one, exit 2, as Go's flag package does (COMPATIBILITY.md)", async () => {
    for (const argv of [
      ["-shutdown-timeout", "xyz", "-no-such-flag", "-dns-lookup-family", "v5"],
      ["-no-such-flag", "-shutdown-timeout", "xyz", "-dns-lookup-family", "v5"],
    ]) {
      const { code, lines } = await checkCommandLine(...argv);
      expect(code).toBe(2);
      const errors = lines.filter((line) => !line.startsWith(" ") && !line.startsWith("\t") && !/^(Usage|Flags):|^Validate /.test(line));
      expect(errors).toEqual([argv[0] === "-shutdown-timeout" ? 'invalid value "xyz" for flag -shutdown-timeout: parse error' : "flag provided but not defined: -no-such-flag"]);
    }
  });

  test("with valid flags, the files they name are all read and every problem is listed", async () => {
    const { argv, routes, allow, roles, htpasswd, cert } = await badFiles();
    const { code, lines } = await checkCommandLine(...argv);
    expect(code).toBe(1);
    expect(lines).toHaveLength(6);
    expect(lines[0]).toStartWith(`${routes}:2:`);
    expect(lines[0]).toContain("nosuchfilter");
    expect(lines[1]).toStartWith("-inline-routes:1:");
    expect(lines[2]).toContain(`${allow}:2:`);
    expect(lines[2]).toContain(`${roles}:2:`);
    expect(lines[3]).toContain(`${htpasswd}:1:`);
    expect(lines[4]).toContain("/nonexistent/sallyport-secrets");
    expect(lines[5]).toBe(`-tls-cert/-tls-key: ${cert}: no PEM certificate`);
  });

  test("route files given as arguments are checked together with -routes-file", async () => {
    const first = await routesFile("x: * -> <shunt>;", "a.eskip");
    const second = await routesFile("x: * -> <shunt>;", "b.eskip");
    const { code, lines } = await checkCommandLine("-routes-file", second, first);
    expect(code).toBe(1);
    expect(lines).toEqual([`${second}:1:1: duplicate route id "x" (also defined at ${first}:1:1)`]);
  });
});
