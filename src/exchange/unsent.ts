/**
 * @module
 * What a request gives back when the backend never had it whole through the client's doing: the
 * rate-limit slots it took. A limit then counts the requests backends got, never a client's
 * broken or abandoned one (src/proxy/unsent.ts decides which those are). One per request, made
 * when it arrives; a limit that lets the request pass adds how to give its slot back.
 */
export class Unsent {
  #giveBacks: (() => void)[] | undefined;

  /** `giveBack` runs if the request turns out unsent. */
  add(giveBack: () => void): void {
    (this.#giveBacks ??= []).push(giveBack);
  }

  /** The request was unsent: what was taken for it is given back, once. */
  giveBack(): void {
    const giveBacks = this.#giveBacks;
    this.#giveBacks = undefined;
    for (const giveBack of giveBacks ?? []) giveBack();
  }
}
