/**
 * @module
 * HTTP syntax checks and parsing shared by filters and predicates.
 *
 * ```ts
 * isHeaderName("X-Api-Key");            // true
 * isHeaderValue("a\r\nX-Evil: 1");      // false
 * findCookie('a=1; b="2"', "b");        // "2"
 * ```
 */

// RFC 9110 §5.1: a field name is a token. fetch's Headers throws on anything else.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// RFC 9110 §5.5 field-value characters: VCHAR, obs-text, SP and HTAB. What Headers accepts without
// throwing (nothing beyond U+00FF) and HTTP/1.1 can carry without smuggling another line.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Hop-by-hop fields (RFC 9110 §7.6.1), lower case: they belong to one connection and are never
 * passed on, nor are the fields a Connection header names. `Expect` is here because Bun.serve has
 * already answered `100 Continue` itself.
 */
export const HOP_BY_HOP_FIELDS: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "expect",
]);

/** Whether `name` is a header field name (an RFC 9110 token). */
export function isHeaderName(name: string): boolean {
  return TOKEN.test(name);
}

/**
 * Whether `value` can be a header field value: no CR, LF, NUL or other control character except
 * HTAB, and no character beyond U+00FF (Headers rejects those).
 */
export function isHeaderValue(value: string): boolean {
  return FIELD_VALUE.test(value);
}

const SPACE = 0x20;
const TAB = 0x09;
const QUOTE = 0x22;
const EQUALS = 0x3d;

const isSpace = (c: number) => c === SPACE || c === TAB;

/**
 * The value of the first cookie called `name` in a Cookie header (`a=1; b="2"`), as Go's
 * `req.Cookie(name)` reads it: pairs split at ";", surrounding spaces ignored, the name compared
 * exactly, surrounding double quotes removed from the value. Undefined when there is no such
 * cookie. Bun joins repeated Cookie lines with "; ", so one scan covers all of them. Allocates only
 * the returned value.
 */
export function findCookie(header: string, name: string): string | undefined {
  const end = header.length;
  let pos = 0;
  while (pos < end) {
    let pairEnd = header.indexOf(";", pos);
    if (pairEnd < 0) pairEnd = end;
    let start = pos;
    while (start < pairEnd && isSpace(header.charCodeAt(start))) start++;
    const eq = start + name.length;
    if (header.startsWith(name, start) && eq < pairEnd && header.charCodeAt(eq) === EQUALS) {
      let valueStart = eq + 1;
      let valueEnd = pairEnd;
      while (valueEnd > valueStart && isSpace(header.charCodeAt(valueEnd - 1))) valueEnd--;
      if (valueEnd - valueStart >= 2 && header.charCodeAt(valueStart) === QUOTE && header.charCodeAt(valueEnd - 1) === QUOTE) {
        valueStart++;
        valueEnd--;
      }
      return header.slice(valueStart, valueEnd);
    }
    pos = pairEnd + 1;
  }
  return undefined;
}
