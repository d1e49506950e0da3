/**
 * @module
 * Secrets read from files under `-credentials-paths`, kept fresh, looked up by path.
 */
export { CredentialsPathError } from "./scan.ts";
export { DEFAULT_UPDATE_INTERVAL_MS, SecretStore } from "./store.ts";
export type { SecretStoreOptions } from "./store.ts";
export { MISSING, NO_SECRETS } from "./types.ts";
export type { SecretLookup, SecretProblem, SecretsReader } from "./types.ts";
