/**
 * @module
 * `ClientIP`, `Source` and `SourceFromLast`, after Skipper's predicates/source: each takes one or
 * more IP addresses or CIDR networks and matches when the request's source address is inside one.
 * They differ only in where the source address comes from:
 *
 * - `ClientIP`: the TCP peer, ignoring X-Forwarded-For.
 * - `Source`: the first X-Forwarded-For entry (the original client, when every proxy appends).
 * - `SourceFromLast`: the last entry (what the nearest proxy, e.g. an AWS ALB, saw).
 *
 * Both XFF variants fall back to the peer when the header is absent or its entry is no address.
 * Bun joins repeated X-Forwarded-For lines with ", ", so "last" is the last entry of the last line,
 * where Go's `Header.Get` would only see the first line.
 */
import { IpSet, parseHostIp, type IpWords } from "../net/ip.ts";
import { readArgs } from "../util/args.ts";
import { forwardedFor, type ForwardedEnd } from "../util/forwarded.ts";
import type { MatchRequest, PredicateSpec } from "./types.ts";

export const CLIENT_IP = "ClientIP";
export const SOURCE = "Source";
export const SOURCE_FROM_LAST = "SourceFromLast";

// Matching is synchronous, so one buffer serves every request.
const scratch: IpWords = new Uint32Array(4);

type SourceOf = (req: MatchRequest, out: IpWords) => 0 | 4 | 6;

const peer: SourceOf = (req, out) => parseHostIp(req.peer, 0, req.peer.length, out);

const forwarded =
  (end: ForwardedEnd): SourceOf =>
  (req, out) => {
    const entry = forwardedFor(req.headers, end);
    if (entry !== undefined) {
      const family = parseHostIp(entry, 0, entry.length, out);
      if (family !== 0) return family;
    }
    return peer(req, out);
  };

const firstForwarded = forwarded("first");
const lastForwarded = forwarded("last");

function createSourceSpec(name: string, sourceOf: SourceOf): PredicateSpec {
  return {
    name,
    create(args) {
      const a = readArgs(name, args).count(1, Infinity);
      const networks = new IpSet();
      a.rest(0, "network", "string").forEach((text, i) => {
        try {
          networks.add(text);
        } catch (e) {
          throw a.error(i, "network", `must be an IP address or CIDR network: ${(e as Error).message}`);
        }
      });
      return { weight: 1, match: (req) => networks.has(sourceOf(req, scratch), scratch) };
    },
  };
}

/** `ClientIP("10.0.0.0/8", "::1")`: the TCP peer address. Weighs 1. */
export const clientIpSpec = createSourceSpec(CLIENT_IP, peer);
/** `Source("1.2.3.4", "2.2.2.0/24")`: the first X-Forwarded-For entry, else the peer. Weighs 1. */
export const sourceSpec = createSourceSpec(SOURCE, firstForwarded);
/** `SourceFromLast("1.2.3.0/24")`: the last X-Forwarded-For entry, else the peer. Weighs 1. */
export const sourceFromLastSpec = createSourceSpec(SOURCE_FROM_LAST, lastForwarded);
