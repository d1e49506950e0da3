/**
 * @module
 * Query strings in the access log. They are where clients put tokens (`?access_token=`,
 * presigned URLs' `X-Amz-Signature`, OAuth's `code`), so by default (`-access-log-strip-query`)
 * a line has the path only. With `-access-log-strip-query=false` the query is kept as the client
 * sent it, except the values of parameters whose names look like credentials, which read
 * `REDACTED` — Skipper's `maskAccessLogQuery` hashes named ones; a hash of a short password
 * is one dictionary away from the password, so nothing of the value is kept. Referers get the same
 * treatment, and never keep a `user:password@` or a fragment (OAuth's implicit flow puts
 * `#access_token=` there).
 */

export const REDACTED = "REDACTED";

/** A parameter name word that is a credential on its own: `sig`, `code`, `sid`. */
const CREDENTIAL_WORDS = new Set(["sig", "sid", "code", "pass", "otp", "ticket", "bearer", "assertion"]);
/** A word ending so is one too: `token`, `accesstoken`, `apikey`, `oauth`, `passwd`. */
const CREDENTIAL_ENDINGS = /(token|key|secret|password|passwd|pwd|passphrase|signature|credential|credentials|session|sessionid|jwt|auth)$/;

/**
 * Whether a query parameter's value is kept from the log. The name is split into words at
 * punctuation and camelCase (`X-Amz-Signature`, `client_secret`, `apiKey`, `sessionId`); one
 * credential word suffices. Erring towards hiding: `monkey` is redacted too.
 */
export function looksLikeCredential(name: string): boolean {
  const words = decodeName(name)
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/);
  return words.some((w) => CREDENTIAL_WORDS.has(w) || CREDENTIAL_ENDINGS.test(w));
}

function decodeName(name: string): string {
  try {
    return decodeURIComponent(name.replaceAll("+", " "));
  } catch {
    return name;
  }
}

/** The raw query with credential-looking values replaced; names, order and `&`s as sent. */
export function redactQuery(query: string): string {
  return query
    .split("&")
    .map((pair) => {
      const eq = pair.indexOf("=");
      return eq >= 0 && looksLikeCredential(pair.slice(0, eq)) ? `${pair.slice(0, eq + 1)}${REDACTED}` : pair;
    })
    .join("&");
}

/** The request-uri of a line: the path, and the redacted query unless stripped. */
export function loggedUri(path: string, query: string, stripQuery: boolean): string {
  return stripQuery || query === "" ? path : `${path}?${redactQuery(query)}`;
}

/** A Referer as logged: no userinfo ever, its query as a request's (stripped, or redacted). */
export function loggedReferer(referer: string, stripQuery: boolean): string {
  if (referer === "") return "";
  const hash = referer.indexOf("#");
  const noFragment = hash < 0 ? referer : referer.slice(0, hash);
  const q = noFragment.indexOf("?");
  const base = withoutUserinfo(q < 0 ? noFragment : noFragment.slice(0, q));
  return loggedUri(base, q < 0 ? "" : noFragment.slice(q + 1), stripQuery);
}

/** `https://user:pw@host/p` → `https://host/p`; anything else as it is. */
function withoutUserinfo(url: string): string {
  const scheme = url.indexOf("://");
  if (scheme < 0) return url;
  const start = scheme + 3;
  const slash = url.indexOf("/", start);
  const authorityEnd = slash < 0 ? url.length : slash;
  const at = url.lastIndexOf("@", authorityEnd - 1);
  return at < start ? url : url.slice(0, start) + url.slice(at + 1);
}
