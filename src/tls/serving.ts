/**
 * @module
 * The certificate our own listeners serve (`-tls-cert`/`-tls-key`, Skipper's names) and the CA
 * client certificates are verified against (`-tls-client-ca`), kept fresh without a restart:
 * the files are re-read every `pollMs`, together, so a poll never pairs a new certificate with
 * the old key. A new set is checked the way OpenSSL will use it (the key must match the
 * certificate) before it is taken; a bad one keeps the set in use and is logged. Each connection
 * takes the set current when it arrives (the listeners upgrade every accepted socket themselves,
 * ./listen.ts), so a rotation reaches every new connection and leaves open ones alone.
 *
 * Messages name files and OpenSSL's reason, never a byte of a key.
 */
import { X509Certificate } from "node:crypto";
import { createSecureContext } from "node:tls";
import type { ConsolaInstance } from "consola/core";
import type { Clock } from "../util/clock.ts";
import { errorCode, readTextFile } from "../util/read-file.ts";
import { WatchedFile } from "../util/watched-file.ts";

/** `-tls-client-auth` */
export type ClientAuth = "none" | "request" | "require";

export interface ServingTlsOptions {
  readonly certFile: string;
  readonly keyFile: string;
  /** `-tls-client-ca`; required unless `clientAuth` is none */
  readonly clientCaFile?: string | undefined;
  readonly clientAuth: ClientAuth;
  /** ms between re-reads */
  readonly pollMs: number;
  readonly log: ConsolaInstance;
  readonly clock?: Clock;
}

/** What a server-side TLS upgrade is given; one object per accepted set, shared by connections. */
export interface ServerTlsOptions {
  readonly cert: string;
  readonly key: string;
  readonly ca?: string;
  readonly requestCert: boolean;
  /** always false: ./listen.ts decides on the verification result, so a refusal can say why */
  readonly rejectUnauthorized: false;
}

interface Accepted {
  readonly options: ServerTlsOptions;
  /** unix ms of the certificate's notAfter */
  readonly notAfter: number;
  readonly subject: string;
}

const LABEL = "TLS certificate";

export class ServingTls {
  #current: Accepted;

  private constructor(
    readonly config: ServingTlsOptions,
    accepted: Accepted,
    readonly file: WatchedFile,
  ) {
    this.#current = accepted;
  }

  /** Reads and checks the files; rejects with `-tls-cert …: reason` when they cannot serve. */
  static async open(config: ServingTlsOptions): Promise<ServingTls> {
    const files = [config.certFile, config.keyFile, ...(config.clientCaFile ? [config.clientCaFile] : [])];
    // Read once ahead of the watch, so a file that cannot be read is named as itself.
    await readTogether(files).catch((e: Error) => {
      throw new Error(`-tls-cert/-tls-key: cannot read ${e.message}`);
    });
    let serving: ServingTls | undefined;
    const file = await WatchedFile.open({
      path: config.certFile,
      label: LABEL,
      pollMs: config.pollMs,
      clock: config.clock,
      log: config.log,
      read: () => readTogether(files),
      onChange: (text) => serving!.#changed(text),
    }).catch((e: Error) => {
      throw new Error(`-tls-cert/-tls-key: ${e.message}`);
    });
    const checked = check(config, file.text);
    if ("problem" in checked) throw new Error(`-tls-cert/-tls-key: ${checked.problem}`);
    serving = new ServingTls(config, checked, file);
    return serving;
  }

  get clientAuth(): ClientAuth {
    return this.config.clientAuth;
  }

  /** what a connection arriving now is served with */
  get options(): ServerTlsOptions {
    return this.#current.options;
  }

  /** unix ms when the certificate in use expires (the expiry gauge) */
  get notAfter(): number {
    return this.#current.notAfter;
  }

  start(): void {
    this.file.start();
  }

  /** Reads the files now (SIGHUP). */
  reread(): Promise<void> {
    return this.file.reread();
  }

  stop(): void {
    this.file.stop();
  }

  #changed(text: string): void {
    const checked = check(this.config, text);
    const { log, certFile } = this.config;
    if ("problem" in checked) return void log.warn(`${LABEL} ${certFile} not taken: ${checked.problem}; still serving ${this.#current.subject}`);
    this.#current = checked;
    log.info(`${LABEL} ${certFile} reloaded: ${checked.subject}, valid until ${new Date(checked.notAfter).toISOString()}`);
  }
}

/** The files as one text (JSON of their contents), or an error naming the file that failed. */
async function readTogether(files: readonly string[]): Promise<string> {
  const texts: string[] = [];
  // In order: the first file that fails is the one named.
  for (const file of files) {
    texts.push(
      await readTextFile(file).catch((e: unknown) => {
        throw new Error(`${file}: ${errorCode(e)}`);
      }),
    );
  }
  return JSON.stringify(texts);
}

function check(config: ServingTlsOptions, text: string): Accepted | { problem: string } {
  const [cert, key, ca] = JSON.parse(text) as [string, string, string | undefined];
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch {
    return { problem: `${config.certFile}: no PEM certificate` };
  }
  try {
    if (ca !== undefined) new X509Certificate(ca);
  } catch {
    return { problem: `${config.clientCaFile}: no PEM certificate` };
  }
  // createSecureContext takes an empty key for no key at all and passes; every handshake would
  // then fail. An empty key file is what `>` leaves while a new key is being written.
  if (key === "") return { problem: `${config.keyFile}: not a PEM private key (empty)` };
  const options: ServerTlsOptions = { cert, key, ...(ca === undefined ? {} : { ca }), requestCert: config.clientAuth !== "none", rejectUnauthorized: false };
  try {
    createSecureContext(options);
  } catch (e) {
    return { problem: opensslProblem(e, config) };
  }
  return { options, notAfter: certificate.validToDate.getTime(), subject: certificate.subject.split("\n").reverse().join(",") };
}

/** OpenSSL's reason in words where we know it; its code otherwise (never the input). */
function opensslProblem(e: unknown, config: ServingTlsOptions): string {
  const code = (e as NodeJS.ErrnoException)?.code ?? "";
  if (code === "ERR_OSSL_X509_KEY_VALUES_MISMATCH") return `${config.keyFile} is not the key of ${config.certFile}`;
  if (code.startsWith("ERR_OSSL_PEM") || code.includes("DECODE") || code.includes("ASN1")) return `${config.keyFile}: not a PEM private key (${code})`;
  return code || "OpenSSL refused the certificate and key";
}
