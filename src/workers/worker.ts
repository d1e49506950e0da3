/**
 * @module
 * The worker's side of `-workers`: how a process knows it is one, the flags the primary adds to
 * its command line, and the one message it sends back once it serves.
 */

/** Set by the primary in each worker's environment: the worker's number, from 0. */
export const WORKER_ENV = "SALLYPORT_WORKER";

/** This process's worker number, when the primary started it. */
export function workerNumber(): number | undefined {
  const value = process.env[WORKER_ENV];
  return value === undefined ? undefined : Number(value);
}

/** What a worker tells the primary once its listeners are bound. */
export interface ReadyMessage {
  readonly ready: true;
  /** its private support listener (`127.0.0.1:PORT`): /metrics and /routes, gathered by the primary */
  readonly support: string;
}

export const isReadyMessage = (message: unknown): message is ReadyMessage =>
  typeof message === "object" && message !== null && (message as ReadyMessage).ready === true && typeof (message as ReadyMessage).support === "string";

/** Where each worker's own support listener goes: the primary gathers /metrics from it. */
export const PRIVATE_SUPPORT = "127.0.0.1:0";

/**
 * The flags a worker gets after the operator's (a later flag wins): the ports the primary
 * checked, a private support listener, and no wait before draining (the primary waited).
 */
export function workerFlags(ports: ReadonlyMap<string, string>): string[] {
  const flags: string[] = [];
  for (const [flag, address] of ports) flags.push(flag, address);
  flags.push("-support-listener", PRIVATE_SUPPORT, "-wait-for-healthcheck-interval", "0s");
  return flags;
}
