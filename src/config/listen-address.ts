/**
 * @module
 * Listener addresses in Go's `host:port` form (`net.SplitHostPort`), as Skipper's
 * `-address` and `-support-listener` take them, turned into what `Bun.serve` wants.
 */
import { isIP } from "node:net";

/** A parsed listener address: `hostname` and `port` as `Bun.serve` takes them. */
export interface ListenAddress {
  /** `0.0.0.0` when the address leaves the host out (`:9090`); IPv6 without brackets. */
  hostname: string;
  /** 0 asks the OS for a free port. */
  port: number;
}

/**
 * Parses `:9090`, `127.0.0.1:0`, `[::1]:9090` or `localhost:8080`.
 * Throws an Error whose message is the reason alone (`missing port in address`,
 * `invalid IP address "999.1.1.1"`), so callers
 * can put it after their own context.
 *
 * Go listens on every interface, IPv6 included, when the host is empty; we use `0.0.0.0`
 * (Bun's own default) and leave dual-stack to an explicit `[::]:port`.
 */
export function parseListenAddress(s: string): ListenAddress {
  const { host, port } = splitHostPort(s);
  checkHost(host);
  return { hostname: host === "" ? "0.0.0.0" : host, port: parsePort(port) };
}

// Bun.serve passes a host it cannot read as an IP to the resolver, and `999.1.1.1` fails
// only at listen, as `ENOTTY: inappropriate ioctl for device`. A host that can only be meant
// as an IP (digits and dots, or any ':') must be a valid IPv4 dotted quad or IPv6 address;
// names (`localhost`, `my-host.example`) are left to the resolver.
function checkHost(host: string): void {
  const meantAsIP = host.includes(":") || /^[\d.]+$/.test(host);
  // node:net's isIP is Go's net.ParseIP here: four parts 0-255, no leading zeros; IPv6 zones allowed.
  if (meantAsIP && isIP(host) === 0) throw new Error(`invalid IP address ${JSON.stringify(host)}`);
}

// The checks and messages of Go's net.SplitHostPort, so a Skipper address that fails
// there fails here with the same words.
function splitHostPort(s: string): { host: string; port: string } {
  const colon = s.lastIndexOf(":");
  if (colon < 0) throw new Error("missing port in address");

  let host: string;
  let hostStart = 0;
  let hostEnd = 0;
  if (s.startsWith("[")) {
    const close = s.indexOf("]");
    if (close < 0) throw new Error("missing ']' in address");
    if (close + 1 === s.length) throw new Error("missing port in address");
    if (close + 1 !== colon) {
      throw new Error(s[close + 1] === ":" ? "too many colons in address" : "missing port in address");
    }
    host = s.slice(1, close);
    hostStart = 1;
    hostEnd = close + 1;
  } else {
    host = s.slice(0, colon);
    if (host.includes(":")) throw new Error("too many colons in address");
  }
  if (s.indexOf("[", hostStart) >= 0) throw new Error("unexpected '[' in address");
  if (s.indexOf("]", hostEnd) >= 0) throw new Error("unexpected ']' in address");
  return { host, port: s.slice(colon + 1) };
}

// Go would also resolve service names (`:http`) and treat an empty port as 0; both are
// easy to misread in a config, so only decimal port numbers are accepted.
function parsePort(port: string): number {
  if (!/^\d{1,5}$/.test(port)) throw new Error(`invalid port ${JSON.stringify(port)}`);
  const n = Number(port);
  if (n > 65535) throw new Error(`invalid port ${JSON.stringify(port)}`);
  return n;
}
