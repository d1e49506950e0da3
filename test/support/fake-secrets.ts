/** @module A secrets reader for filter unit tests: values set by hand, refusals recorded. */
import { MISSING, type SecretLookup, type SecretProblem, type SecretsReader } from "../../src/secrets/index.ts";

export class FakeSecrets implements SecretsReader {
  readonly #entries = new Map<string, SecretLookup>();
  readonly refusals: { name: string; filter: string; problem: SecretProblem }[] = [];

  set(name: string, value: string): this {
    this.#entries.set(name, { ok: true, value });
    return this;
  }

  fail(name: string, problem: Exclude<SecretProblem, "missing">): this {
    this.#entries.set(name, { ok: false, problem });
    return this;
  }

  clear(): void {
    this.#entries.clear();
    this.refusals.length = 0;
  }

  lookup(name: string): SecretLookup {
    return this.#entries.get(name) ?? MISSING;
  }

  refused(name: string, filter: string, problem: SecretProblem): void {
    this.refusals.push({ name, filter, problem });
  }
}
