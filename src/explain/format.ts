/**
 * @module
 * An explanation as text, one labelled line per fact, for `sallyport explain` and
 * `/debug/explain`. Stable and plain so it can be diffed in review and pinned in tests.
 */
import type { Explanation } from "./explain.ts";

const label = (name: string) => name.padEnd(10);

export function formatExplanation(e: Explanation): string {
  const lines: string[] = [];
  const add = (name: string, text: string) => lines.push(`${label(name)}${text}`);
  const { request } = e;
  add("request", `${request.method} ${request.target}: ${e.kind}`);
  const who = [`client ${request.client}`, ...(request.identity ? [`certificate CN ${request.identity}`] : []), ...(request.user ? [`proxy user ${request.user}`] : [])];
  add("from", who.join(", "));
  for (const s of e.skipped) add("skipped", `${s.id}${s.where ? ` (${s.where})` : ""}: ${s.because}`);
  if (e.route) add("route", `${e.route.id}${e.route.where ? ` (${e.route.where})` : ""}`);
  else if (e.verdict.reason === "no-route") add("route", `none matches: ${e.verdict.status}`);
  if (e.route) add("filters", e.route.filters.length > 0 ? e.route.filters.join(" -> ") : "none");
  for (const h of e.headers) add("headers", h);
  if (e.served) add("served", e.served);
  if (e.backend) add("backend", e.backend);
  if (e.egress) {
    const g = e.egress;
    const why = [`reason ${g.reason}`, ...(g.rule ? [`rule ${JSON.stringify(g.rule)}`] : []), ...(g.range ? [`range ${g.range}`] : []), ...(g.role ? [`role ${g.role}`] : [])].join(", ");
    const verdict = g.wouldDeny ? `would-deny (report mode: ${g.wouldDeny.reason}${g.wouldDeny.rule ? ` by ${JSON.stringify(g.wouldDeny.rule)}` : ""}), let through` : g.allowed ? "allow" : "deny";
    add("egress", `${g.destination}: ${verdict} (${why})`);
    add("dns", g.addresses === undefined ? "not resolved" : g.addresses.length > 0 ? g.addresses.join(", ") : "no addresses");
    if (g.dial) add("dial", g.dial);
    if (g.refusal) add("answer", g.refusal);
    if (g.note) add("note", g.note);
  }
  if (e.breaker) add("breaker", e.breaker);
  for (const r of e.ratelimits) add("ratelimit", r);
  add("verdict", `${e.verdict.allowed ? "allow" : "deny"} (${e.verdict.reason}${e.verdict.status ? `, ${e.verdict.status}` : ""})`);
  return lines.join("\n") + "\n";
}
