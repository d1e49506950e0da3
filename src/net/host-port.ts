/**
 * @module
 * `name[:port]` hosts, as a URL authority, a Host header or a breaker key writes them (IPv6 in
 * brackets): which port a scheme implies, whether a host names its own, and which hosts are safe
 * to put into a URL at all.
 */

/** The port a URL without one means, per scheme. */
export const DEFAULT_PORT = { http: "80", https: "443" } as const;

/** Whether a `name[:port]` host names its port: `[::1]:443` and `a:80` do, `[::1]` and `example.com` do not. */
export const hasPort = (host: string): boolean => /:\d+$/.test(host);

/**
 * A Host header (or a dynamic target) we are willing to put into a URL: a registered name or IPv4
 * (RFC 3986 reg-name without the characters that would end or split an authority) or a bracketed
 * IPv6 literal, and an optional port up to 65535. "a.example@127.0.0.1" or "a/b" would move the request elsewhere.
 * Being valid says nothing about what the host reads as: ./numeric-host.ts decides that.
 */
const VALID_HOST = /^(?:[A-Za-z0-9._~%!$&'()*+;=-]*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{0,5})?$/;

const PORT = /:(\d+)$/;

export function isValidHost(host: string): boolean {
  if (!VALID_HOST.test(host)) return false;
  const port = PORT.exec(host)?.[1];
  return port === undefined || Number(port) <= 65535;
}

/** A CONNECT target, an absolute-form authority or a dynamic target: `host:port`, IPv6 in brackets. */
export interface Authority {
  /** lower case; an IPv6 literal without its brackets */
  readonly host: string;
  readonly port: number;
}

/**
 * Splits `host:port` (RFC 9112 §3.2.3: CONNECT always names the port). Returns a message when it
 * is not one: no port, a port outside 1–65535, a userinfo part, an empty or bracketless IPv6 host.
 */
export function parseAuthority(text: string): Authority | string {
  if (text.includes("@")) return "an authority with userinfo";
  let host: string;
  let port: string;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0 || text[close + 1] !== ":") return "an IPv6 authority is [address]:port";
    host = text.slice(1, close);
    port = text.slice(close + 2);
    if (!/^[0-9A-Fa-f:.]+$/.test(host)) return "not an IPv6 address in brackets";
  } else {
    const colon = text.lastIndexOf(":");
    if (colon < 0) return "the port is missing";
    host = text.slice(0, colon);
    port = text.slice(colon + 1);
    if (host.includes(":")) return "an IPv6 address must be in brackets";
    if (!/^[A-Za-z0-9._~!$&'()*+,;=%-]+$/.test(host)) return "not a host name";
  }
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return `the port ${JSON.stringify(port)} is not 1–65535`;
  return { host: host.toLowerCase(), port: Number(port) };
}

/** `name[:port]` as a Host header writes it, with the scheme's port when none is named. */
export function parseHostPort(host: string, defaultPort: string): Authority | string {
  return parseAuthority(hasPort(host) ? host : `${host}:${defaultPort}`);
}

/**
 * A peer address as logs and policies want it: an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) as
 * its IPv4. Bun gives a socket reset before its `open` ran no remoteAddress (typed as a string).
 */
export const peerAddress = (address: string | undefined): string => (address === undefined ? "" : address.startsWith("::ffff:") ? address.slice(7) : address);
