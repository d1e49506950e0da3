/**
 * @module
 * The secrets contract, after Skipper's `secrets.SecretsReader`: filters look a secret up by its
 * key (the file path) on every request and get either the value or why there is none. The store
 * that implements it (store.ts) re-reads the files; filters never touch the file system.
 */

/** Why a secret has no usable value. */
export type SecretProblem =
  /** no file under that key in any registered path */
  | "missing"
  /** the file exists but could not be read (permissions, dangling symlink, not a regular file) */
  | "unreadable"
  /** the file was read but its value is refused (empty, control characters, too large) */
  | "invalid";

export type SecretLookup = { readonly ok: true; readonly value: string } | { readonly ok: false; readonly problem: SecretProblem };

export interface SecretsReader {
  /** The current value of the secret keyed `name`; one map read, no I/O. */
  lookup(name: string): SecretLookup;
  /**
   * Tells the operator that `filter` refused a request because secret `name` is unavailable.
   * Implementations rate-limit this per secret, since it happens on every request.
   */
  refused(name: string, filter: string, problem: SecretProblem): void;
}

export const MISSING: SecretLookup = Object.freeze({ ok: false, problem: "missing" });

/** A reader with no secrets at all, for commands that build routes but serve nothing (`check`). */
export const NO_SECRETS: SecretsReader = {
  lookup: () => MISSING,
  refused: () => {},
};
