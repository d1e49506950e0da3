/**
 * @module
 * Configuration: the validated {@link Config} and the listener address parser.
 */
export { ConfigSchema, LOG_LEVELS, validateConfig } from "./schema.ts";
export type { Config, ConfigIssue, ConfigResult, LogLevel } from "./schema.ts";
export { parseListenAddress } from "./listen-address.ts";
export type { ListenAddress } from "./listen-address.ts";
export { egressListsOptions, resolverOptions } from "./egress.ts";
export { servingTlsOptions } from "./tls.ts";
export { swarmOptions } from "./swarm.ts";
