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
 * IPv6 literal, and an optional port. "a.example@127.0.0.1" or "a/b" would move the request elsewhere.
 * Being valid says nothing about what the host reads as: ./numeric-host.ts decides that.
 */
const VALID_HOST = /^(?:[A-Za-z0-9._~%!$&'()*+;=-]*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{0,5})?$/;

export const isValidHost = (host: string): boolean => VALID_HOST.test(host);
