/**
 * @module
 * The chunked transfer coding of a response body, decoded as bytes arrive (RFC 9112 §7.1): the
 * data is handed on in the slices it came in, never copied into a buffer of its own; chunk
 * extensions and trailer fields are read and dropped. A size line that is not hex, too long, or a
 * chunk not followed by CRLF is `InvalidChunkedEncoding`.
 */
import { ClientError } from "./response-head.ts";

const MAX_LINE = 4096;

const broken = (why: string) => new ClientError("InvalidChunkedEncoding", `invalid chunked body: ${why}`);

export class ChunkedDecoder {
  /** bytes of chunk data still to come in the current chunk */
  #remaining = 0;
  #state: "size" | "data" | "data-end" | "trailer" | "done" = "size";
  /** a line split across reads */
  #line = "";

  get done(): boolean {
    return this.#state === "done";
  }

  /**
   * Decodes `bytes`, calling `out` with each piece of data; returns how many bytes were used
   * (less than all only once the body is done: the rest belongs to the next response).
   */
  push(bytes: Uint8Array, out: (data: Uint8Array) => void): number {
    let i = 0;
    while (i < bytes.length && this.#state !== "done") {
      if (this.#state === "data") {
        const n = Math.min(this.#remaining, bytes.length - i);
        out(bytes.subarray(i, i + n));
        i += n;
        this.#remaining -= n;
        if (this.#remaining === 0) this.#state = "data-end";
        continue;
      }
      const lf = bytes.indexOf(10, i);
      const end = lf < 0 ? bytes.length : lf + 1;
      this.#line += String.fromCharCode(...bytes.subarray(i, end));
      i = end;
      if (this.#line.length > MAX_LINE) throw broken("a line over 4 KiB");
      if (lf < 0) break;
      const line = this.#line;
      this.#line = "";
      if (!line.endsWith("\r\n")) throw broken("a bare LF");
      this.#lineDone(line.slice(0, -2));
    }
    return i;
  }

  #lineDone(line: string): void {
    switch (this.#state) {
      case "size": {
        const size = /^([0-9A-Fa-f]{1,12})[ \t]*(?:;.*)?$/.exec(line);
        if (!size) throw broken("a chunk size that is not hex");
        this.#remaining = parseInt(size[1]!, 16);
        this.#state = this.#remaining === 0 ? "trailer" : "data";
        return;
      }
      case "data-end":
        if (line !== "") throw broken("chunk data longer than its size");
        this.#state = "size";
        return;
      case "trailer":
        if (line === "") this.#state = "done";
        return;
    }
  }
}
