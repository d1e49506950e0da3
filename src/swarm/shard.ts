/**
 * @module
 * One Redis server of the swarm, through Bun's built-in client. Calls never wait longer than
 * `-swarm-redis-read-timeout`, never queue while the connection is down (the client's offline
 * queue is off), and never pile up: past `maxInFlight` a call fails at once. A shard that fails a
 * call — a timeout, a closed connection, a refused login — is down for a second: calls skip it
 * (the ring moves its keys on), then the next call tries again, reconnecting first. A reply
 * error (a script the server does not know) is the caller's to handle and says nothing about
 * the shard's health.
 */
import { RedisClient } from "bun";
import type { Clock } from "../util/clock.ts";
import { askWhyLoginFailed } from "./auth-probe.ts";
import type { ShardSettings } from "./settings.ts";

export interface ShardOptions {
  readonly password: string | undefined;
  /** ms to connect (and log in); -swarm-redis-dial-timeout */
  readonly dialTimeout: number;
  /** ms a call may take; -swarm-redis-read-timeout */
  readonly readTimeout: number;
  /** PEM CAs for rediss:// */
  readonly ca: string | undefined;
  readonly clock: Clock;
  /** called when the shard goes down (with why) and when it answers again (undefined) */
  readonly onHealth: (shard: Shard, downBecause: string | undefined) => void;
  /** each answered call's latency, in seconds */
  readonly latency: (shard: string, seconds: number) => void;
  readonly maxInFlight?: number;
}

/** How long a shard that failed is skipped before it is tried again. */
export const DOWN_MS = 1000;
const MAX_IN_FLIGHT = 1024;

export type FailureKind = "timeout" | "connection" | "overloaded";

/** The shard could not answer; the caller decides without it. */
export class ShardFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
  ) {
    super(message);
  }
}

/** Why a connection failed, in words an operator can act on; Redis' own message never holds the password. */
function describe(err: unknown): string {
  const message = String((err as Error)?.message ?? err);
  return /WRONGPASS|NOAUTH|NOPERM/.test(message) ? `authentication failed: ${message}` : message;
}

/** A reply error from Redis, such as NOSCRIPT: the shard is fine. */
const isReplyError = (err: unknown): boolean => (err as { code?: string } | null)?.code === "ERR_REDIS_SERVER_ERROR" && !/WRONGPASS|NOAUTH|NOPERM/.test(String((err as Error).message));

export class Shard {
  readonly #client: RedisClient;
  readonly #options: ShardOptions;
  readonly #maxInFlight: number;
  #inFlight = 0;
  #downUntil = 0;
  #down = false;
  #connecting: Promise<void> | undefined;
  readonly #auth: string[] | undefined;
  /** failures by kind, for metrics */
  readonly failures = new Map<FailureKind, number>();

  constructor(
    readonly settings: ShardSettings,
    options: ShardOptions,
  ) {
    this.#options = options;
    this.#maxInFlight = options.maxInFlight ?? MAX_IN_FLIGHT;
    const { host, port, tls, username, db } = settings;
    this.#auth = options.password === undefined ? undefined : username === undefined ? [options.password] : [username, options.password];
    const auth = username !== undefined || options.password !== undefined ? `${encodeURIComponent(username ?? "")}:${encodeURIComponent(options.password ?? "")}@` : "";
    // The password lives in this URL only, never in a message: errors name settings.address.
    const url = `${tls ? "rediss" : "redis"}://${auth}${host.includes(":") ? `[${host}]` : host}:${port}/${db}`;
    this.#client = new RedisClient(url, {
      connectionTimeout: options.dialTimeout,
      enableOfflineQueue: false,
      autoReconnect: false,
      enableAutoPipelining: true,
      tls: tls ? (options.ca ? { ca: options.ca } : true) : false,
    });
    // No onclose: a connection that closed is found by the next call, which reconnects or
    // fails with the reason (a refused login, a refused connect) rather than "closed".
  }

  get address(): string {
    return this.settings.address;
  }

  /** Whether calls may go to it: not skipped after a failure. */
  get usable(): boolean {
    return !this.#down || this.#options.clock.now() >= this.#downUntil;
  }

  /** Sends one command; rejects with a {@link ShardFailure} when the shard cannot answer in time. */
  async call(command: string, args: string[]): Promise<unknown> {
    if (this.#inFlight >= this.#maxInFlight) throw this.#fail(new ShardFailure("overloaded", `more than ${this.#maxInFlight} calls waiting`));
    this.#inFlight++;
    const { clock, readTimeout } = this.#options;
    const started = clock.now();
    const { promise: expired, reject } = Promise.withResolvers<never>();
    const timer = clock.setTimeout(() => reject(new ShardFailure("timeout", `no answer within ${readTimeout} ms`)), readTimeout);
    try {
      if (!this.#client.connected) await Promise.race([this.#connect(), expired]);
      const reply = await Promise.race([this.#client.send(command, args), expired]);
      this.#options.latency(this.address, (clock.now() - started) / 1000);
      this.#up();
      return reply;
    } catch (err) {
      if (isReplyError(err)) throw err;
      throw this.#fail(err instanceof ShardFailure ? err : new ShardFailure("connection", describe(err)));
    } finally {
      timer.cancel();
      this.#inFlight--;
    }
  }

  close(): void {
    this.#client.close();
  }

  /**
   * One connect at a time; Bun's own timeout (the dial timeout) ends a connect that hangs. Bun
   * logs in as it connects and calls a refused login "Connection closed": then the server is
   * asked why, once per outage, so the log can say the password is wrong.
   */
  #connect(): Promise<void> {
    this.#connecting ??= this.#client
      .connect()
      .catch(async (err: unknown) => {
        if (!this.#auth || this.#down) throw err;
        const refusal = await askWhyLoginFailed(this.settings, this.#auth, this.#options.ca, this.#options.dialTimeout, this.#options.clock);
        throw refusal ? new ShardFailure("connection", `authentication failed: ${refusal}`) : err;
      })
      .finally(() => (this.#connecting = undefined));
    return this.#connecting;
  }

  /** Counts the failure; any but overload takes the shard down for {@link DOWN_MS}, the first time with a word to the log. */
  #fail(failure: ShardFailure): ShardFailure {
    this.failures.set(failure.kind, (this.failures.get(failure.kind) ?? 0) + 1);
    if (failure.kind === "overloaded") return failure;
    this.#downUntil = this.#options.clock.now() + DOWN_MS;
    if (!this.#down) {
      this.#down = true;
      this.#options.onHealth(this, failure.message);
    }
    return failure;
  }

  #up(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#options.onHealth(this, undefined);
  }
}
