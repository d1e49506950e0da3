/**
 * @module
 * What the listeners' certificate is opened from (-tls-cert, -tls-key, -tls-client-ca,
 * -tls-client-auth). One place, so the start and `sallyport check` read a command line's TLS
 * files the same way.
 */
import type { ServingTlsOptions } from "../tls/serving.ts";
import type { Config } from "./schema.ts";

/** undefined when the listeners serve plain TCP */
export function servingTlsOptions(config: Config, rest: Pick<ServingTlsOptions, "log" | "clock">): ServingTlsOptions | undefined {
  if (!config.tlsCert) return undefined;
  return {
    certFile: config.tlsCert,
    keyFile: config.tlsKey,
    clientCaFile: config.tlsClientCa || undefined,
    clientAuth: config.tlsClientAuth,
    pollMs: config.sourcePollTimeout,
    ...rest,
  };
}
