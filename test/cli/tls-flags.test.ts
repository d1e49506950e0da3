/** The TLS listener flags and the roles file through the whole CLI: argv → config, or the flag's error and exit 2. */
import { describe, expect, test } from "bun:test";
import type { Config } from "../../src/config/index.ts";
import { DEFAULT_CONFIG } from "../support/config.ts";
import { cli } from "./helpers.ts";

const PAIR = ["-tls-cert", "/etc/sallyport/tls.crt", "-tls-key", "/etc/sallyport/tls.key"];
const INTERCEPT = ["-intercept-ca-cert", "/ca.crt", "-intercept-ca-key", "/ca.key", "-intercept-hosts", "api.test"];

describe("argv → config", () => {
  test.each<{ name: string; argv: string[]; config: Partial<Config> }>([
    { name: "-tls-cert and -tls-key", argv: PAIR, config: { tlsCert: "/etc/sallyport/tls.crt", tlsKey: "/etc/sallyport/tls.key" } },
    {
      name: "client certificates required",
      argv: [...PAIR, "-tls-client-ca", "/etc/sallyport/clients.pem", "-tls-client-auth", "require"],
      config: { tlsCert: "/etc/sallyport/tls.crt", tlsKey: "/etc/sallyport/tls.key", tlsClientCa: "/etc/sallyport/clients.pem", tlsClientAuth: "require" },
    },
    { name: "-tls-handshake-timeout", argv: ["-tls-handshake-timeout", "2s"], config: { tlsHandshakeTimeout: 2000 } },
    { name: "-egress-roles-file", argv: ["-egress-roles-file=/etc/sallyport/roles"], config: { egressRolesFile: "/etc/sallyport/roles" } },
    // Interception on the forward port stays possible while -address alone would be TLS: no forward port here.
    { name: "-intercept-hosts with -tls-cert and no forward port", argv: [...PAIR, ...INTERCEPT], config: { tlsCert: "/etc/sallyport/tls.crt", tlsKey: "/etc/sallyport/tls.key", interceptCaCert: "/ca.crt", interceptCaKey: "/ca.key", interceptHosts: [{ kind: "host", entry: "api.test", host: "api.test" }] } },
  ])("$name", async ({ argv, config }) => {
    const r = await cli(argv);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.config).toEqual({ ...DEFAULT_CONFIG, ...config });
  });
});

describe("bad combinations: the flag and why, exit 2", () => {
  test.each<{ name: string; argv: string[]; message: string }>([
    { name: "a certificate without its key", argv: ["-tls-cert", "/x.crt"], message: 'invalid value "/x.crt" for flag -tls-cert: -tls-cert and -tls-key go together' },
    { name: "client auth without a client CA", argv: [...PAIR, "-tls-client-auth", "request"], message: 'invalid value "request" for flag -tls-client-auth: needs -tls-client-ca and -tls-cert' },
    { name: "a client CA without client auth", argv: [...PAIR, "-tls-client-ca", "/ca.pem"], message: 'invalid value "/ca.pem" for flag -tls-client-ca: does nothing without -tls-client-auth=request or require' },
    { name: "an unknown client auth mode", argv: [...PAIR, "-tls-client-auth", "optional"], message: 'invalid value "optional" for flag -tls-client-auth: must be none, request or require' },
    {
      name: "interception inside a TLS forward port",
      argv: [...PAIR, "-forward-address", "127.0.0.1:3128", ...INTERCEPT],
      message:
        'invalid value "api.test" for flag -intercept-hosts: cannot be used with -tls-cert on the forward port: TLS inside its TLS cannot be terminated (serve the forward port without -tls-cert, or drop -intercept-hosts)',
    },
    { name: "zero handshake timeout", argv: ["-tls-handshake-timeout", "0"], message: 'invalid value "0" for flag -tls-handshake-timeout: must be more than 0' },
  ])("$name", async ({ argv, message }) => {
    const r = await cli(argv);
    expect(r.code).toBe(2);
    expect(r.config).toBeUndefined();
    expect(r.stderr).toBe(`${message}\n`);
  });
});
