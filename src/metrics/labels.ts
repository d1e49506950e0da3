/**
 * @module
 * Label values with a bound. Every series costs memory in sallyport and in Prometheus, and some
 * values are the client's to choose: a `<dynamic>` route or the forward port goes wherever the
 * Host or CONNECT target says, and a method is any token. So only route ids (from the operator's
 * routes), destination `host:port` (capped), a fixed set of methods and status classes become
 * labels — never a path, query, header or secret value.
 */

/** The label every destination beyond the cap shares; a real one always has a port, so never this. */
export const OTHER_HOST = "other";

/**
 * Destinations with series of their own: the first `max` distinct ones seen (`-metrics-max-hosts`),
 * for the life of the process; later ones are {@link OTHER_HOST}. First come rather than most
 * used, so a host's series never moves between labels and its counters stay monotonic.
 */
export class HostLabels {
  readonly #seen = new Set<string>();

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`max hosts must be a positive integer, got ${max}`);
  }

  label(host: string): string {
    if (this.#seen.has(host)) return host;
    if (this.#seen.size >= this.max) return OTHER_HOST;
    this.#seen.add(host);
    return host;
  }
}

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]);

/** The RFC 9110 methods and PATCH by name; any other token the client sent is `other`. */
export const methodLabel = (method: string): string => (METHODS.has(method) ? method : "other");

const CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/** `2xx` and so on; `none` for an exchange that ended before any status was chosen. */
export const statusClass = (status: number | undefined): string => (status === undefined ? "none" : (CLASSES[Math.floor(status / 100) - 1] ?? "none"));
