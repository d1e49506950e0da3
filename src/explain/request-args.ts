/**
 * @module
 * The request `sallyport explain` is asked about, from the words after `--`:
 * `METHOD URL [-H 'Name: value']... [--client ADDR] [--identity CN] [--user NAME]
 * [--via forward|address|sni] [--no-dns]`. For CONNECT the URL is `host:port`; with `--via sni`
 * the URL's host is the server name.
 */
import type { ExplainRequest, Via } from "./explain.ts";

const VIAS: readonly Via[] = ["forward", "address", "sni"];

export class RequestArgsError extends Error {}

export function parseRequestArgs(words: readonly string[]): ExplainRequest {
  const [method, target, ...rest] = words;
  if (method === undefined || target === undefined) throw new RequestArgsError("give the request after --: METHOD URL [-H 'Name: value']... [--client ADDR] [--identity CN] [--user NAME] [--via forward|address|sni] [--no-dns]");
  const headers: [string, string][] = [];
  let client = "127.0.0.1";
  let identity: string | undefined;
  let user: string | undefined;
  let via: Via = "forward";
  let dns = true;
  for (let i = 0; i < rest.length; i++) {
    const word = rest[i]!;
    const value = () => {
      const next = rest[++i];
      if (next === undefined) throw new RequestArgsError(`${word} needs a value`);
      return next;
    };
    switch (word) {
      case "-H":
      case "--header":
        headers.push(parseHeader(value()));
        break;
      case "--client":
        client = value();
        break;
      case "--identity":
        identity = value();
        break;
      case "--user":
        user = value();
        break;
      case "--via":
        via = parseVia(value(), "--via");
        break;
      case "--no-dns":
        dns = false;
        break;
      default:
        throw new RequestArgsError(`unknown argument ${JSON.stringify(word)}`);
    }
  }
  return requestOf(method.toUpperCase(), target, { headers, client, identity, user, via, dns });
}

/** A door's name; `label` names where it was given, for the message. */
export function parseVia(text: string, label: string): Via {
  if (!VIAS.includes(text as Via)) throw new RequestArgsError(`${label} ${JSON.stringify(text)}: forward, address or sni`);
  return text as Via;
}

/** `Name: value` as curl's -H takes it. */
export function parseHeader(header: string): [string, string] {
  const colon = header.indexOf(":");
  if (colon <= 0) throw new RequestArgsError(`${JSON.stringify(header)} is not Name: value`);
  return [header.slice(0, colon).trim(), header.slice(colon + 1).trim()];
}

/** Checks the target against the method and door; the URL's host is an SNI request's name. */
export function requestOf(method: string, target: string, rest: Omit<ExplainRequest, "method" | "target">): ExplainRequest {
  if (rest.via === "sni") {
    const name = URL.canParse(target) ? new URL(target).hostname : target;
    return { ...rest, method: "SNI", target: name };
  }
  if (method === "CONNECT") {
    if (rest.via !== "forward") throw new RequestArgsError("CONNECT is served on the forward port only (via forward)");
    return { ...rest, method, target };
  }
  if (!URL.canParse(target) || !/^https?:$/.test(new URL(target).protocol)) throw new RequestArgsError(`${JSON.stringify(target)} is not an http:// or https:// URL`);
  return { ...rest, method, target };
}
