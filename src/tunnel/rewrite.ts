/**
 * @module
 * A relayed request's head as the route engine must see it. Bun.serve routes by the Host header
 * and drops the authority of an absolute-form target (`GET http://a.example/p` with `Host: b`
 * reaches the handler as `http://b/p`), while RFC 9112 §3.2.2 says the target wins: so the front
 * rewrites every absolute-form head to origin form with `Host` set to the target's authority.
 * An `https://` target is marked with an internal header the engine trusts from the front only;
 * the same header sent by a client is dropped here, so it cannot be forged.
 *
 * Not relayed: a CONNECT or an `Upgrade` request behind the first head. Either would turn the rest
 * of the connection into bytes the front no longer frames, and Bun.serve does not switch
 * protocols, so what followed would reach the engine unrewritten.
 */
import { DEFAULT_PORT, isValidHost, parseHostPort } from "../net/host-port.ts";
import { RELAYED_SCHEME } from "../proxy/handler.ts";
import type { RequestHead } from "./head.ts";

/** Headers the engine must not get as the client sent them: ours, or this hop's. */
const DROPPED: ReadonlySet<string> = new Set([RELAYED_SCHEME, "proxy-connection"]);

/** What the framer's head hook returns: the head to relay in place of `raw`, or why not. */
export type HeadRewrite = (head: RequestHead, raw: Uint8Array) => Uint8Array | { readonly stop: string };

/**
 * The rewrite inside an intercepted tunnel: every request goes to the CONNECT's authority over
 * https, whatever its Host says (the tunnel was opened, and checked, for that destination).
 */
export function pinnedRewrite(authority: { readonly host: string; readonly port: number }): HeadRewrite {
  const name = authority.host.includes(":") ? `[${authority.host}]` : authority.host;
  // The default port is left out, so routes match `Host("^api[.]github[.]com$")` as for any https client.
  const host = authority.port === 443 ? name : `${name}:${authority.port}`;
  return (head) => {
    if (head.method === "CONNECT") return { stop: "a CONNECT request inside an intercepted tunnel" };
    const names = head.headers.map(([n]) => n.toLowerCase());
    if (names.includes("upgrade")) return { stop: "protocol upgrades are not relayed by the forward port (use CONNECT)" };
    const dropLength = names.includes("transfer-encoding") && names.includes("content-length");
    const target = head.form === "absolute" ? splitAbsolute(head.target) : head.target;
    if (typeof target === "object" && "stop" in target) return target;
    const path = typeof target === "string" ? target : target.originForm;
    return build(head, path, host, "https", dropLength);
  };
}

/** The head to relay in place of `raw`, or why it cannot be relayed. */
export function rewriteHead(head: RequestHead, raw: Uint8Array): Uint8Array | { readonly stop: string } {
  if (head.method === "CONNECT") return { stop: "a CONNECT request on a connection already relaying HTTP" };
  const names = head.headers.map(([name]) => name.toLowerCase());
  if (names.includes("upgrade")) return { stop: "protocol upgrades are not relayed by the forward port (use CONNECT)" };
  // RFC 9112 §6.3: with Transfer-Encoding, an intermediary removes Content-Length before forwarding.
  const dropLength = names.includes("transfer-encoding") && names.includes("content-length");
  if (head.form !== "absolute") return dropLength || names.some((name) => DROPPED.has(name)) ? build(head, head.target, undefined, undefined, dropLength) : raw;
  const target = splitAbsolute(head.target);
  if ("stop" in target) return target;
  return build(head, target.originForm, target.authority, target.scheme, dropLength);
}

interface AbsoluteTarget {
  readonly scheme: "http" | "https";
  readonly authority: string;
  readonly originForm: string;
}

/** `scheme://authority[/path][?query]` → its parts; RFC 9112 §3.2.2 with the URL parser's case rules. */
function splitAbsolute(target: string): AbsoluteTarget | { readonly stop: string } {
  const colon = target.indexOf("://");
  const scheme = target.slice(0, colon).toLowerCase();
  if (scheme !== "http" && scheme !== "https") return { stop: `the scheme ${JSON.stringify(scheme)} is not http or https` };
  const rest = target.slice(colon + 3);
  let end = rest.search(/[/?#]/);
  if (end < 0) end = rest.length;
  const authority = rest.slice(0, end);
  // Refused here, before routing, like a CONNECT's: no route, filter or rate limit sees a target
  // with userinfo, no host, port 0, or a percent-encoded host (no DNS name is one).
  const valid = !authority.includes("%") && isValidHost(authority) && typeof parseHostPort(authority, DEFAULT_PORT[scheme]) !== "string";
  if (!valid) return { stop: "the target has no valid authority (host[:port], no userinfo)" };
  const after = rest.slice(end);
  if (after.includes("#")) return { stop: "a fragment in the request target" };
  return { scheme, authority, originForm: after.startsWith("/") ? after : "/" + after };
}

function build(head: RequestHead, target: string, authority: string | undefined, scheme: "http" | "https" | undefined, dropLength: boolean): Uint8Array {
  let text = `${head.method} ${target} ${head.version}\r\n`;
  if (authority !== undefined) text += `Host: ${authority}\r\n`;
  if (scheme === "https") text += `${RELAYED_SCHEME}: https\r\n`;
  for (const [name, value] of head.headers) {
    const lower = name.toLowerCase();
    // The target's authority replaces every Host the client sent.
    if (DROPPED.has(lower) || (authority !== undefined && lower === "host") || (dropLength && lower === "content-length")) continue;
    text += `${name}: ${value}\r\n`;
  }
  // latin1 both ways (as ./head.ts reads it): obs-text bytes in a value go out as they came.
  return Buffer.from(text + "\r\n", "latin1");
}
