/** @module The configuration every flag's default gives: one fixture for the CLI and config tests. */
import type { Config } from "../../src/config/index.ts";

/** Pinned literally, not derived from the flag table, so a changed default fails a test. */
export const DEFAULT_CONFIG: Config = {
  address: ":9090",
  inlineRoutes: "",
  routesFile: [],
  sourcePollTimeout: 3000,
  supportListener: ":9911",
  defaultHttpStatus: 404,
  timeoutBackend: 60_000,
  responseHeaderTimeoutBackend: 60_000,
  idleTimeoutServer: 60_000,
  readTimeoutServer: 0,
  proxyPreserveHost: false,
  maxLoopbacks: 9,
  applicationLogLevel: "info",
  backendCaFile: "",
  insecure: false,
  breaker: [],
  enableBreakers: false,
  ratelimits: [],
  enableRatelimits: false,
  credentialsPaths: [],
  credentialsUpdateInterval: 600_000,
  unwiredFlags: [],
};
