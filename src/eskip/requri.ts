/**
 * @module
 * The subset of Go's `url.ParseRequestURI` that Skipper's LB endpoint check depends on: whether
 * an endpoint is accepted, its lower-cased scheme, and Go's error text when it is not.
 * Written from the behaviour of Go's net/url (scheme, opaque form, authority, port, host
 * characters and %-escapes); IPv6 zone identifiers are only checked loosely.
 */
import { goQuote } from "./errors.ts";

export type RequestURI = { scheme: string } | { error: string };

export function parseRequestURI(raw: string): RequestURI {
  if (/[\x00-\x1f\x7f]/.test(raw)) return { error: "net/url: invalid control character in URL" };
  if (raw === "") return { error: "empty url" };
  if (raw === "*") return { scheme: "" };

  const split = splitScheme(raw);
  if ("error" in split) return split;
  const scheme = split.scheme.toLowerCase();
  let rest = split.rest;
  // A lone trailing "?" is a forced empty query; otherwise the query starts at the first "?".
  const q = rest.indexOf("?");
  if (q >= 0) rest = rest.slice(0, q);

  if (!rest.startsWith("/")) {
    // A rootless path after a scheme is opaque ("mailto:x"); without a scheme it is no request URI.
    return scheme ? { scheme } : { error: "invalid URI for request" };
  }
  if (scheme && rest.startsWith("//")) {
    let authority = rest.slice(2);
    const slash = authority.indexOf("/");
    if (slash >= 0) {
      rest = authority.slice(slash);
      authority = authority.slice(0, slash);
    } else rest = "";
    const error = checkAuthority(authority);
    if (error) return { error };
  }
  const error = checkEscapes(rest, "path");
  return error ? { error } : { scheme };
}

function splitScheme(raw: string): { scheme: string; rest: string } | { error: string } {
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (/[A-Za-z]/.test(c)) continue;
    if (/[0-9+\-.]/.test(c)) {
      if (i === 0) break;
      continue;
    }
    if (c === ":") {
      if (i === 0) return { error: "missing protocol scheme" };
      return { scheme: raw.slice(0, i), rest: raw.slice(i + 1) };
    }
    break;
  }
  return { scheme: "", rest: raw };
}

function checkAuthority(authority: string): string | undefined {
  const at = authority.lastIndexOf("@");
  const hostError = checkHost(authority.slice(at + 1));
  if (hostError) return hostError;
  if (at < 0) return undefined;
  const userinfo = authority.slice(0, at);
  if (!/^[A-Za-z0-9\-._:~!$&'()*+,;=%@]*$/.test(userinfo)) return "net/url: invalid userinfo";
  for (const part of userinfo.split(":", 2)) {
    const error = checkEscapes(part, "userinfo");
    if (error) return error;
  }
  return undefined;
}

function checkHost(host: string): string | undefined {
  let port = "";
  if (host.startsWith("[")) {
    const close = host.lastIndexOf("]");
    if (close < 0) return "missing ']' in host";
    port = host.slice(close + 1);
    const zone = host.slice(0, close).indexOf("%25");
    if (zone >= 0) {
      if (!validPort(port)) return `invalid port ${goQuote(port)} after host`;
      return checkEscapes(host.slice(0, zone), "host") ?? checkEscapes(host.slice(close), "host");
    }
  } else {
    const colon = host.lastIndexOf(":");
    if (colon >= 0) port = host.slice(colon);
  }
  if (!validPort(port)) return `invalid port ${goQuote(port)} after host`;
  return checkEscapes(host, "host");
}

const validPort = (port: string) => port === "" || /^:[0-9]*$/.test(port);

// Characters a host may hold unescaped in Go (besides non-ASCII): alphanumerics, sub-delims,
// ":" "[" "]" for ports and IPv6, "<" ">" '"', and the unreserved marks.
const hostChar = /[A-Za-z0-9!$&'()*+,;=:[\]<>"\-_.~]/;

/** Go's `unescape` validation: well-formed %-escapes, and in a host only allowed characters. */
function checkEscapes(s: string, mode: "host" | "path" | "userinfo"): string | undefined {
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "%") {
      const escape = s.slice(i, i + 3);
      if (!/^%[0-9A-Fa-f]{2}$/.test(escape)) return `invalid URL escape ${goQuote(escape)}`;
      // In a host, %-escapes are only for non-ASCII bytes, and %25 for IPv6 zones.
      if (mode === "host" && parseInt(escape[1]!, 16) < 8 && escape !== "%25") {
        return `invalid URL escape ${goQuote(escape)}`;
      }
      i += 2;
    } else if (mode === "host" && c.charCodeAt(0) < 0x80 && !hostChar.test(c)) {
      return `invalid character ${goQuote(c)} in host name`;
    }
  }
  return undefined;
}
