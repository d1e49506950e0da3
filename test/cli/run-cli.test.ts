/** runCli end to end with captured output: argv → config handed to serve, or message and exit code. */
import { describe, expect, test } from "bun:test";
import { runCli, SERVE_FLAGS, VERSION, type CliHandlers, type EskipParseMode } from "../../src/cli/index.ts";
import type { Config } from "../../src/config/index.ts";
import { DEFAULT_CONFIG } from "../support/config.ts";

const DEFAULTS = DEFAULT_CONFIG;

/** Runs the CLI with recording handlers; `codes` sets what each handler returns. */
async function cli(argv: string[], codes: { serve?: number | Error; check?: number | Error; eskipParse?: number } = {}) {
  const out = { stdout: "", stderr: "" };
  const calls: { serve?: Config; check?: string[]; caInit?: string; eskipParse?: EskipParseMode } = {};
  const handlers: CliHandlers = {
    serve(config) {
      calls.serve = config;
      if (codes.serve instanceof Error) throw codes.serve;
      return codes.serve;
    },
    async check(request) {
      calls.check = [...request.files];
      if (codes.check instanceof Error) throw codes.check;
      return codes.check ?? 0;
    },
    async caInit(dir) {
      calls.caInit = dir;
      return 0;
    },
    explain: async () => 0,
    testPolicy: async () => 0,
    async eskipParse(mode) {
      calls.eskipParse = mode;
      return codes.eskipParse ?? 0;
    },
  };
  const code = await runCli(argv, handlers, {
    stdout: { write: (s: string) => (out.stdout += s) },
    stderr: { write: (s: string) => (out.stderr += s) },
  });
  return { code, ...out, calls };
}

describe("serve: argv → config", () => {
  test.each<{ name: string; argv: string[]; config: Partial<Config> }>([
    { name: "no flags: Skipper's defaults", argv: [], config: {} },
    { name: "the explicit serve command", argv: ["serve", "-address", ":1"], config: { address: ":1" } },
    { name: "-address", argv: ["-address", "127.0.0.1:0"], config: { address: "127.0.0.1:0" } },
    { name: "--address=", argv: ["--address=[::1]:8080"], config: { address: "[::1]:8080" } },
    { name: "-inline-routes", argv: ["-inline-routes", "r: * -> <shunt>"], config: { inlineRoutes: "r: * -> <shunt>" } },
    { name: "-routes-file comma list", argv: ["-routes-file", "a.eskip,b.eskip"], config: { routesFile: ["a.eskip", "b.eskip"] } },
    { name: "-routes-file repeated replaces", argv: ["-routes-file", "a,b", "-routes-file", "c"], config: { routesFile: ["c"] } },
    { name: "-source-poll-timeout in ms", argv: ["-source-poll-timeout", "500"], config: { sourcePollTimeout: 500 } },
    { name: "-source-poll-timeout hex", argv: ["-source-poll-timeout", "0x10"], config: { sourcePollTimeout: 16 } },
    { name: "-support-listener empty disables", argv: ["-support-listener", ""], config: { supportListener: "" } },
    { name: "-default-http-status", argv: ["-default-http-status", "502"], config: { defaultHttpStatus: 502 } },
    { name: "-timeout-backend 10s", argv: ["-timeout-backend", "10s"], config: { timeoutBackend: 10_000 } },
    { name: "-response-header-timeout-backend 1m30s", argv: ["-response-header-timeout-backend=1m30s"], config: { responseHeaderTimeoutBackend: 90_000 } },
    { name: "-idle-timeout-server 1.5s", argv: ["-idle-timeout-server", "1.5s"], config: { idleTimeoutServer: 1500 } },
    { name: "-read-timeout-server 5m", argv: ["-read-timeout-server", "5m"], config: { readTimeoutServer: 300_000 } },
    { name: "-proxy-preserve-host", argv: ["-proxy-preserve-host"], config: { proxyPreserveHost: true } },
    { name: "-proxy-preserve-host=false after true", argv: ["-proxy-preserve-host", "-proxy-preserve-host=false"], config: {} },
    { name: "-proxy-preserve-host=T", argv: ["-proxy-preserve-host=T"], config: { proxyPreserveHost: true } },
    { name: "-max-loopbacks 0", argv: ["-max-loopbacks", "0"], config: { maxLoopbacks: 0 } },
    { name: "-application-log-level any case", argv: ["-application-log-level", "DeBuG"], config: { applicationLogLevel: "debug" } },
    { name: "-application-log-level warning is warn", argv: ["-application-log-level", "WARNING"], config: { applicationLogLevel: "warn" } },
    { name: "-backend-ca-file", argv: ["-backend-ca-file", "/etc/ca.pem"], config: { backendCaFile: "/etc/ca.pem" } },
    { name: "-credentials-paths comma list", argv: ["-credentials-paths=/tmp/secrets,/run/token"], config: { credentialsPaths: ["/tmp/secrets", "/run/token"] } },
    { name: "-credentials-paths repeated replaces", argv: ["-credentials-paths", "a,b", "-credentials-paths", "c"], config: { credentialsPaths: ["c"] } },
    { name: "-credentials-update-interval 1s", argv: ["-credentials-update-interval=1s"], config: { credentialsUpdateInterval: 1000 } },
    { name: "-credentials-update-interval 0 is 10m", argv: ["-credentials-update-interval", "0"], config: { credentialsUpdateInterval: 600_000 } },
    { name: "-credentials-update-interval negative is 10m", argv: ["-credentials-update-interval", "-5s"], config: { credentialsUpdateInterval: 600_000 } },
    { name: "scalars: last wins", argv: ["-max-loopbacks", "1", "--max-loopbacks", "2"], config: { maxLoopbacks: 2 } },
    { name: "a trailing -- just ends the flags", argv: ["-max-loopbacks", "1", "--"], config: { maxLoopbacks: 1 } },
  ])("$name", async ({ argv, config }) => {
    const r = await cli(argv);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.calls.serve).toEqual({ ...DEFAULTS, ...config });
  });
});

// Only _goflag.ts may read flags: a second parser (citty's, node:util parseArgs) once ran over
// argv first and threw `true is not iterable` on `-credentials-paths=/tmp/my_app`.
describe("serve: values only Go's rules may read (`_`, `-`, `=`, `.`)", () => {
  test.each<{ name: string; argv: string[]; config: Partial<Config> }>([
    { name: "list, -name=value with _", argv: ["-credentials-paths=/tmp/my_app", "-support-listener=", "-address=127.0.0.1:0"], config: { credentialsPaths: ["/tmp/my_app"], supportListener: "", address: "127.0.0.1:0" } },
    { name: "list, --name=value with _ - = .", argv: ["--credentials-paths=/run/my_app-1.d,/tmp/a=b_c.token"], config: { credentialsPaths: ["/run/my_app-1.d", "/tmp/a=b_c.token"] } },
    { name: "list, value as the next argument", argv: ["-routes-file", "/etc/my_routes-v1.eskip,-x=y_z.eskip"], config: { routesFile: ["/etc/my_routes-v1.eskip", "-x=y_z.eskip"] } },
    { name: "string, -name=value", argv: ["-backend-ca-file=/etc/ssl/my_ca-bundle.v2=x.pem"], config: { backendCaFile: "/etc/ssl/my_ca-bundle.v2=x.pem" } },
    { name: "string that looks like a flag", argv: ["-inline-routes", "-my_route=x.y"], config: { inlineRoutes: "-my_route=x.y" } },
    { name: "string, host name with - and .", argv: ["-address=my-host.example:8080"], config: { address: "my-host.example:8080" } },
    { name: "string, IPv4 address", argv: ["-address=10.0.0.1:8080"], config: { address: "10.0.0.1:8080" } },
    { name: "int with Go's digit separator _", argv: ["-max-loopbacks=1_000", "-source-poll-timeout=0x_1f"], config: { maxLoopbacks: 1000, sourcePollTimeout: 31 } },
    { name: "duration, -name=value", argv: ["-timeout-backend=1m0.5s", "--idle-timeout-server=.5s"], config: { timeoutBackend: 60_500, idleTimeoutServer: 500 } },
    { name: "bool, -name=value", argv: ["-proxy-preserve-host=T", "-enable-breakers=1"], config: { proxyPreserveHost: true, enableBreakers: true } },
    { name: "log level, -name=value", argv: ["-application-log-level=Warning"], config: { applicationLogLevel: "warn" } },
    { name: "explicit serve command, --name=value with _", argv: ["serve", "--credentials-paths=/tmp/my_app"], config: { credentialsPaths: ["/tmp/my_app"] } },
  ])("$name", async ({ argv, config }) => {
    const r = await cli(argv);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.calls.serve).toEqual({ ...DEFAULTS, ...config });
  });

  test("repeat, entries with _ - = .", async () => {
    const r = await cli(["-breaker=host=my_host.example-1:443,type=rate", "--ratelimits=type=client,max-hits=10,time-window=1.5s"]);
    expect(r.stderr).toBe("");
    expect(r.calls.serve?.breaker).toMatchObject([{ host: "my_host.example-1:443", type: "rate" }]);
    expect(r.calls.serve?.ratelimits).toMatchObject([{ type: "client", maxHits: 10, timeWindow: 1500 }]);
  });
});

const USAGE_START = "Usage: sallyport [flags]\n";

describe("serve: errors → message, exit code", () => {
  test.each<{ name: string; argv: string[]; message: string; usage: boolean }>([
    { name: "unknown flag", argv: ["-nope"], message: "flag provided but not defined: -nope", usage: true },
    { name: "missing value", argv: ["-address"], message: "flag needs an argument: -address", usage: true },
    { name: "bare number as duration", argv: ["-timeout-backend", "10"], message: 'invalid value "10" for flag -timeout-backend: parse error', usage: true },
    { name: "bad int", argv: ["-max-loopbacks", "many"], message: 'invalid value "many" for flag -max-loopbacks: parse error', usage: true },
    { name: "bad bool", argv: ["-proxy-preserve-host=yes"], message: 'invalid boolean value "yes" for -proxy-preserve-host: parse error', usage: true },
    {
      name: "-bool false leaves a positional",
      argv: ["-proxy-preserve-host", "false"],
      message: 'invalid arguments: [false]\n(a boolean flag takes its value after "=": -proxy-preserve-host=false)',
      usage: true,
    },
    { name: "positional after flags", argv: ["-max-loopbacks", "1", "routes.eskip"], message: "invalid arguments: [routes.eskip]", usage: true },
    { name: "positional after --", argv: ["--", "check"], message: "invalid arguments: [check]", usage: true },
    { name: "a word alone is an unknown command", argv: ["chek", "x.eskip"], message: 'unknown command "chek"', usage: true },
    { name: "status out of range", argv: ["-default-http-status", "600"], message: 'invalid value "600" for flag -default-http-status: must be an HTTP status between 200 and 599', usage: false },
    { name: "negative loopbacks", argv: ["-max-loopbacks", "-1"], message: 'invalid value "-1" for flag -max-loopbacks: must not be negative', usage: false },
    { name: "negative duration", argv: ["-timeout-backend", "-1s"], message: 'invalid value "-1s" for flag -timeout-backend: must not be negative', usage: false },
    { name: "zero poll interval", argv: ["-source-poll-timeout", "0"], message: 'invalid value "0" for flag -source-poll-timeout: must be a positive number of milliseconds', usage: false },
    { name: "address without port", argv: ["-address", "localhost"], message: 'invalid value "localhost" for flag -address: missing port in address', usage: false },
    { name: "empty address", argv: ["-address="], message: 'invalid value "" for flag -address: missing port in address', usage: false },
    { name: "bad support listener", argv: ["-support-listener", ":x"], message: 'invalid value ":x" for flag -support-listener: invalid port "x"', usage: false },
    { name: "address with an impossible IPv4", argv: ["-address=999.1.1.1:8080"], message: 'invalid value "999.1.1.1:8080" for flag -address: invalid IP address "999.1.1.1"', usage: false },
    { name: "support listener with a bad IPv6", argv: ["-support-listener", "[1::2::3]:9911"], message: 'invalid value "[1::2::3]:9911" for flag -support-listener: invalid IP address "1::2::3"', usage: false },
    {
      name: "unknown log level",
      argv: ["-application-log-level", "verbose"],
      message: 'invalid value "verbose" for flag -application-log-level: not a valid log level, use one of panic, fatal, error, warn, info, debug, trace',
      usage: false,
    },
    {
      name: "every invalid value is reported at once",
      argv: ["-default-http-status", "99", "-address", "x"],
      message: 'invalid value "x" for flag -address: missing port in address\ninvalid value "99" for flag -default-http-status: must be an HTTP status between 200 and 599',
      usage: false,
    },
  ])("$name", async ({ argv, message, usage }) => {
    const r = await cli(argv);
    expect(r.code).toBe(2);
    expect(r.calls.serve).toBeUndefined();
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(usage ? `${message}\n${(await cli(["-help"])).stdout}` : `${message}\n`);
  });
});

describe("help and version", () => {
  test.each<{ argv: string[] }>([
    { argv: ["-help"] },
    { argv: ["-h"] },
    { argv: ["--help"] },
    { argv: ["-address", ":1", "-h"] },
    { argv: ["serve", "-help"] },
  ])("$argv: usage on stdout, exit 0", async ({ argv }) => {
    const r = await cli(argv);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("\nFlags:\n");
    expect(r.calls.serve).toBeUndefined();
  });

  test("the top-level usage names the commands", async () => {
    const { stdout } = await cli(["-help"]);
    expect(stdout).toStartWith(`${USAGE_START}       sallyport <command> [arguments]\n`);
    expect(stdout).toMatch(/\n {2}check {2,}Validate a command line and the files it names/);
    expect(stdout).toMatch(/\n {2}explain {2,}Print what the proxy would do with a request/);
    expect(stdout).toMatch(/\n {2}test-policy {2}Check a file of cases/);
    expect(stdout).toMatch(/\n {2}eskip {2,}/);
  });

  test("usage lists every flag, Go style, with its default", async () => {
    const { stdout } = await cli(["-help"]);
    expect(stdout).toContain('  -address string\n    \tTCP address the proxy listens on (default ":9090")\n');
    expect(stdout).toContain("  -timeout-backend duration\n    \ttimeout for dialing a backend connection (CONNECT tunnels; fetch backends count it within -response-header-timeout-backend) (default 1m0s)\n");
    expect(stdout).toContain("  -read-timeout-server duration\n    \tmaximum time for a client to send its whole request body; 0 means no limit\n");
    expect(stdout).toContain("  -default-http-status int\n    \tHTTP status returned when no route matches (default 404)\n");
    expect(stdout).toContain("  -proxy-preserve-host\n    \tsend the client's Host header");
    expect(stdout).toContain("  -support-listener string\n    \tTCP address of the support listener (/healthz, /readyz, /routes, /metrics); empty disables it (default \":9911\")\n");
    expect(stdout).toContain("  -enable-breakers\n    \taccepted for Skipper command lines; the breaker filters always work\n");
    for (const flag of SERVE_FLAGS) expect(stdout).toContain(`\n  -${flag.name}`);
  });

  // -version acts once the flags parse, before the config is validated, as in Skipper.
  test.each<{ argv: string[] }>([
    { argv: ["-version"] },
    { argv: ["--version=true"] },
    { argv: ["-version", "-address", "bad"] },
  ])("$argv prints the version, exit 0", async ({ argv }) => {
    const r = await cli(argv);
    expect(r).toMatchObject({ code: 0, stdout: `sallyport ${VERSION}\n`, stderr: "" });
    expect(r.calls.serve).toBeUndefined();
  });

  test("-version=false serves", async () => {
    expect((await cli(["-version=false"])).calls.serve).toEqual(DEFAULTS);
  });
});

describe("serve handler outcomes", () => {
  test("a returned exit code is passed on", async () => {
    expect((await cli([], { serve: 1 })).code).toBe(1);
  });

  test("a throw: Failed to start, exit 1", async () => {
    const r = await cli(["-address", ":1"], { serve: new Error("listen EADDRINUSE") });
    expect(r).toMatchObject({ code: 1, stdout: "", stderr: "Failed to start sallyport: listen EADDRINUSE\n" });
  });
});

describe("check", () => {
  test.each<{ name: string; argv: string[]; files: string[] }>([
    { name: "files are passed on", argv: ["check", "a.eskip", "b.eskip"], files: ["a.eskip", "b.eskip"] },
    { name: "a file named like a flag after --", argv: ["check", "--", "-odd.eskip"], files: ["-odd.eskip"] },
    { name: "flags stop at the first file", argv: ["check", "a.eskip", "-x"], files: ["a.eskip", "-x"] },
  ])("$name", async ({ argv, files }) => {
    const r = await cli(argv);
    expect(r.code).toBe(0);
    expect(r.calls.check).toEqual(files);
  });

  test("the handler's exit code is passed on", async () => {
    expect((await cli(["check", "bad.eskip"], { check: 1 })).code).toBe(1);
  });

  test("a throw: named by the command, exit 1", async () => {
    const r = await cli(["check", "a.eskip"], { check: new Error("boom") });
    expect(r).toMatchObject({ code: 1, stdout: "", stderr: "sallyport check: boom\n" });
  });

  test.each<{ name: string; argv: string[]; message: string }>([
    { name: "nothing to check", argv: ["check"], message: "check: nothing to check: give route files, serve flags, or both" },
    { name: "unknown flag", argv: ["check", "-nope", "a.eskip"], message: "flag provided but not defined: -nope" },
  ])("$name: exit 2", async ({ argv, message }) => {
    const r = await cli(argv);
    expect(r.code).toBe(2);
    expect(r.calls.check).toBeUndefined();
    expect(r.stderr).toStartWith(`${message}\nUsage: sallyport check [flags] [FILE...]\n`);
  });

  test("-help", async () => {
    const r = await cli(["check", "-help"]);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toStartWith("Usage: sallyport check [flags] [FILE...]\n");
  });
});

describe("ca init", () => {
  test("the directory is passed on", async () => {
    const r = await cli(["ca", "init", "/tmp/ca-dir"]);
    expect(r.code).toBe(0);
    expect(r.calls.caInit).toBe("/tmp/ca-dir");
  });

  test("no directory: exit 2 with usage", async () => {
    const r = await cli(["ca", "init"]);
    expect(r.code).toBe(2);
    expect(r.calls.caInit).toBeUndefined();
    expect(r.stderr).toStartWith("ca init: the directory to write ca.crt and ca.key into is missing\nUsage: sallyport ca init DIR\n");
  });
});

describe("eskip parse", () => {
  test.each<{ argv: string[]; mode: EskipParseMode }>([
    { argv: ["eskip", "parse"], mode: "routes" },
    { argv: ["eskip", "parse", "--mode", "filters"], mode: "filters" },
    { argv: ["eskip", "parse", "-mode=predicates"], mode: "predicates" },
    { argv: ["eskip", "parse", "-mode", "filters", "-mode", "routes"], mode: "routes" },
  ])("$argv → $mode", async ({ argv, mode }) => {
    const r = await cli(argv, { eskipParse: 0 });
    expect(r.code).toBe(0);
    expect(r.calls.eskipParse).toBe(mode);
  });

  test("the handler's exit code is passed on", async () => {
    expect((await cli(["eskip", "parse"], { eskipParse: 1 })).code).toBe(1);
  });

  test.each<{ name: string; argv: string[]; message: string; usage: string }>([
    { name: "bad mode", argv: ["eskip", "parse", "--mode", "json"], message: 'invalid value "json" for flag -mode: must be routes, filters or predicates', usage: "Usage: sallyport eskip parse [flags]\n" },
    { name: "stray argument", argv: ["eskip", "parse", "file"], message: "invalid arguments: [file]", usage: "Usage: sallyport eskip parse [flags]\n" },
    { name: "no subcommand", argv: ["eskip"], message: "missing command", usage: "Usage: sallyport eskip <command> [arguments]\n" },
    { name: "unknown subcommand", argv: ["eskip", "print"], message: 'unknown command "print"', usage: "Usage: sallyport eskip <command> [arguments]\n" },
  ])("$name: exit 2", async ({ argv, message, usage }) => {
    const r = await cli(argv);
    expect(r.code).toBe(2);
    expect(r.calls.eskipParse).toBeUndefined();
    expect(r.stderr).toStartWith(`${message}\n${usage}`);
  });

  test.each<{ argv: string[] }>([{ argv: ["eskip", "-h"] }, { argv: ["eskip", "--help"] }])("$argv lists the eskip commands", async ({ argv }) => {
    const r = await cli(argv);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toStartWith("Usage: sallyport eskip <command> [arguments]\n");
    expect(r.stdout).toContain("\n  parse  ");
  });

  test("eskip parse -help shows -mode", async () => {
    const r = await cli(["eskip", "parse", "-help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('  -mode string\n    \twhat stdin holds: routes, filters or predicates (default "routes")\n');
  });
});
