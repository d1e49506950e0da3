/**
 * @module
 * Go duration syntax (`time.ParseDuration`), the format Skipper's duration flags and
 * filter arguments use: `300ms`, `1m30s`, `1.5h`, `-2s`, and a bare `0`.
 */

const NS_PER_MS = 1e6;
// Go stores durations as int64 nanoseconds; anything larger overflows.
const MAX_NS = 9_223_372_036_854_775_807;

const UNIT_NS: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  "µs": 1e3, // U+00B5 micro sign
  "μs": 1e3, // U+03BC Greek mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= "0" && c <= "9";

/**
 * Parses a Go duration and returns milliseconds (fractional below 1ms, e.g. `1500us` → 1.5).
 * A number without a unit is an error, except `0`. Throws with Go's message, e.g.
 * `time: missing unit in duration "10"`.
 */
export function parseDuration(s: string): number {
  const quoted = JSON.stringify(s);
  const invalid = () => new Error(`time: invalid duration ${quoted}`);

  let rest = s;
  let negative = false;
  if (rest[0] === "-" || rest[0] === "+") {
    negative = rest[0] === "-";
    rest = rest.slice(1);
  }
  if (rest === "0") return 0;
  if (rest === "") throw invalid();

  let ns = 0;
  while (rest !== "") {
    // Each component is [0-9]*(\.[0-9]*)?unit, with at least one digit around the dot.
    let i = 0;
    while (isDigit(rest[i])) i++;
    const whole = rest.slice(0, i);
    let fraction = "";
    if (rest[i] === ".") {
      const start = ++i;
      while (isDigit(rest[i])) i++;
      fraction = rest.slice(start, i);
    }
    if (whole === "" && fraction === "") throw invalid();

    const unitStart = i;
    while (i < rest.length && rest[i] !== "." && !isDigit(rest[i])) i++;
    const unit = rest.slice(unitStart, i);
    if (unit === "") throw new Error(`time: missing unit in duration ${quoted}`);
    const scale = UNIT_NS[unit];
    if (scale === undefined) {
      throw new Error(`time: unknown unit ${JSON.stringify(unit)} in duration ${quoted}`);
    }

    ns += Number(whole || "0") * scale;
    // Like Go: digits × (unit / 10^digits), truncated to whole nanoseconds, so `0.3s` is exact.
    if (fraction !== "") ns += Math.trunc(Number(fraction) * (scale / 10 ** fraction.length));
    if (ns > MAX_NS) throw invalid();
    rest = rest.slice(i);
  }
  const ms = ns / NS_PER_MS;
  return negative ? -ms : ms;
}
