/**
 * @module
 * Backend origins: scheme and host, keyed by `host:port` with the scheme's default port filled in
 * (the key breakers and metrics use, so `https://a` and `https://a:443` are one destination).
 */
import { DEFAULT_PORT, hasPort } from "../net/host-port.ts";

/** A network destination: scheme plus `host[:port]` as written, lower-cased. */
export interface Origin {
  readonly scheme: "http" | "https";
  /** host[:port] as it goes into the URL and the Host header */
  readonly host: string;
  /** host:port with the default port added: the key for breakers and metrics */
  readonly key: string;
  /** the host alone, IPv6 without brackets, and the port (the default one when none is given): where to connect */
  readonly hostname: string;
  readonly port: number;
}

/**
 * Parses a backend address into an {@link Origin}. Like Skipper (net.SchemeHost), only scheme and
 * host count: a path in the backend URL is ignored.
 */
export function parseOrigin(address: string): Origin {
  const url = URL.parse(address);
  if (!url || !url.hostname) throw new Error(`backend address must be an absolute URL with a host, got ${JSON.stringify(address)}`);
  const scheme = url.protocol.slice(0, -1);
  if (scheme !== "http" && scheme !== "https") {
    throw new Error(`backend scheme must be http or https, got ${JSON.stringify(scheme)}`);
  }
  return originOf(scheme, url.host);
}

/** host is `name[:port]`, as in a URL authority (IPv6 in brackets). */
export function originOf(scheme: "http" | "https", host: string): Origin {
  const lower = host.toLowerCase();
  const key = hasPort(lower) ? lower : `${lower}:${DEFAULT_PORT[scheme]}`;
  const colon = key.lastIndexOf(":");
  const name = key.slice(0, colon);
  return { scheme, host: lower, key, hostname: name.startsWith("[") ? name.slice(1, -1) : name, port: Number(key.slice(colon + 1)) };
}
