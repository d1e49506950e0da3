/**
 * @module
 * Request paths, as Go's net/url and Skipper treat them: decoded once for matching and for the
 * filters that edit them, cleaned for matching only, and encoded again on the way out only when a
 * filter changed them — so a path nobody touched reaches the backend byte for byte as the client
 * sent it.
 *
 * ```ts
 * decodePath("/%61dmin%2Fx");   // "/admin/x"   (what routes see: PathSubtree("/admin") matches)
 * encodePath("/a b?c");         // "/a%20b%3Fc"
 * cleanPath("/a/./b/../c");     // "/a/c"
 * ```
 */

/** Splits Bun's absolute `req.url` into path and raw query without building a URL object. */
export function splitTarget(url: string): { path: string; rawQuery: string } {
  // Without a usable Host (HTTP/1.0), Bun leaves the URL relative: "/a/b".
  const start = url.startsWith("/") ? 0 : url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return { path: "/", rawQuery: "" };
  const q = url.indexOf("?", start);
  return q < 0 ? { path: url.slice(start), rawQuery: "" } : { path: url.slice(start, q), rawQuery: url.slice(q + 1) };
}

/** A `%` not followed by two hex digits: Go's `invalid URL escape`, which net/http answers with 400. */
export class InvalidEscapeError extends Error {}

const BAD_ESCAPE = /%(?![0-9A-Fa-f]{2})/;
const utf8 = new TextDecoder();
const utf8Encoder = new TextEncoder();

/**
 * Percent-decodes a path once, `%2F` included (Go's `URL.Path`). Bytes that are not UTF-8 become
 * U+FFFD rather than failing. Throws {@link InvalidEscapeError} for a malformed escape.
 */
export function decodePath(raw: string): string {
  if (!raw.includes("%")) return raw;
  if (BAD_ESCAPE.test(raw)) throw new InvalidEscapeError(`invalid escape in path ${JSON.stringify(raw)}`);
  try {
    return decodeURIComponent(raw);
  } catch {
    // Escapes that are no UTF-8 sequence (`%ff`): decode the bytes leniently instead.
    const bytes: number[] = [];
    for (let i = 0; i < raw.length; i++) {
      const c = raw.charCodeAt(i);
      if (c === 0x25 /* % */) {
        bytes.push(parseInt(raw.slice(i + 1, i + 3), 16));
        i += 2;
      } else if (c < 0x80) bytes.push(c);
      else for (const b of utf8Encoder.encode(raw[i]!)) bytes.push(b);
    }
    return utf8.decode(new Uint8Array(bytes));
  }
}

// What Go leaves unescaped in a path (`shouldEscape(c, encodePath)`): unreserved and $&+,/:;=@.
const PATH_SAFE = /^[A-Za-z0-9\-._~$&+,/:;=@]*$/;
// encodeURIComponent escapes these; a path keeps them literal.
const KEPT = /%(24|26|2B|2C|2F|3A|3B|3D|40)/g;
// encodeURIComponent keeps these; Go escapes them.
const EXTRA = /[!'()*]/g;

/** Percent-encodes a decoded path the way Go's `URL.EscapedPath` does when it cannot reuse the raw one. */
export function encodePath(path: string): string {
  if (PATH_SAFE.test(path)) return path;
  return encodeURIComponent(path.toWellFormed())
    .replace(KEPT, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
    .replace(EXTRA, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

const NEEDS_CLEANING = /\/\/|\/\.\.?(\/|$)/;

/** Cleans a path like Skipper's httppath.Clean: no empty, `.` or `..` segments; a trailing slash stays. */
export function cleanPath(path: string): string {
  if (!NEEDS_CLEANING.test(path)) return path;
  const out: string[] = [];
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") out.pop();
    else out.push(seg);
  }
  // As Go's net/http cleanPath: a trailing slash survives only if the path ended with one.
  const trailing = path.endsWith("/");
  const cleaned = "/" + out.join("/");
  return trailing && cleaned !== "/" ? cleaned + "/" : cleaned;
}
