/**
 * @module
 * The interception CA: making one (`sallyport ca init`), loading one (`-intercept-ca-cert`,
 * `-intercept-ca-key`), and the short-lived leaf certificates it signs for the CONNECT hosts we
 * terminate TLS for.
 *
 * Certificates are built with `@peculiar/x509` over WebCrypto (it works in a `bun build
 * --compile` binary; it needs `reflect-metadata` loaded first, see {@link x509}). Keys
 * are ECDSA P-256. PEM keys are read with `node:crypto`, which takes PKCS#8 and the SEC1/PKCS#1
 * files openssl writes.
 *
 * Key material never leaves this module in a message: every error here is our own sentence,
 * never a library's (which could quote its input), and a loaded CA holds its key as a
 * non-extractable CryptoKey, which prints as `CryptoKey { type: "private", … }`.
 *
 * ```ts
 * const { certPem, keyPem } = await createCa({ commonName: "sallyport interception CA", validityDays: 3650 });
 * const ca = await loadCa(certPem, keyPem);
 * const leaves = new LeafCertificates({ ca, clock });
 * const { certPem: cert, keyPem: key } = await leaves.leafFor("api.github.com");
 * ```
 */
import type { AuthorityKeyIdentifierExtension, JsonGeneralName, X509Certificate } from "@peculiar/x509";
import { createPrivateKey, createPublicKey, type KeyObject, type webcrypto } from "node:crypto";
import { parseNumericHost } from "../net/numeric-host.ts";
import { systemClock, type Clock } from "../util/clock.ts";

/** A certificate and its private key, both PEM (the key PKCS#8). */
export interface CertificateAndKey {
  readonly certPem: string;
  /** PKCS#8 PEM; never log it */
  readonly keyPem: string;
}

export interface CreateCaOptions {
  readonly commonName: string;
  readonly validityDays: number;
  /** wall-clock ms (Date.now by default): when the certificate's validity starts */
  readonly now?: number;
}

/** Any problem with a CA or a leaf: always our own words, never key material. */
export class CertificateError extends Error {
  override name = "CertificateError";
}

type X509Library = typeof import("@peculiar/x509");
let library: Promise<X509Library> | undefined;

/**
 * `@peculiar/x509`, loaded on first use after `reflect-metadata`: its tsyringe container throws
 * at load when `Reflect.getMetadata` is missing. Static imports in that order are not enough:
 * when the bundler wraps this module for a dynamic `import()` (as `bun build --compile` does),
 * it runs the ESM packages' bodies before the CJS `reflect-metadata`, and the binary dies at
 * `import` ("tsyringe requires a reflect polyfill"). Two awaited imports keep the order.
 */
function x509(): Promise<X509Library> {
  return (library ??= import("reflect-metadata").then(() => import("@peculiar/x509")));
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** how far notBefore lies in the past, for clients whose clock is behind ours */
const BACKDATE_MS = HOUR;

type EcdsaParams = webcrypto.EcdsaParams;
type Algorithm = webcrypto.Algorithm;
type EcKeyImportParams = webcrypto.EcKeyImportParams;
type RsaHashedImportParams = webcrypto.RsaHashedImportParams;

const EC_P256: webcrypto.EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };

/** A fresh CA: self-signed, ECDSA P-256, CA:true with pathlen 0, keyCertSign and cRLSign. */
export async function createCa(options: CreateCaOptions): Promise<CertificateAndKey> {
  const { commonName, validityDays } = options;
  if (!/^[^\0-\x1f\x7f]{1,64}$/.test(commonName)) throw new CertificateError("the CA common name must be 1–64 characters, none of them control characters");
  if (!Number.isInteger(validityDays) || validityDays < 1 || validityDays > 100 * 365) {
    throw new CertificateError(`the CA validity must be a whole number of days from 1 to 36500, not ${validityDays}`);
  }
  const now = options.now ?? Date.now();
  const { BasicConstraintsExtension, KeyUsageFlags, KeyUsagesExtension, PemConverter, SubjectKeyIdentifierExtension, X509CertificateGenerator } = await x509();
  const keys = (await crypto.subtle.generateKey(EC_P256, true, ["sign", "verify"])) as CryptoKeyPair;
  const cert = await X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [commonName] }],
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + validityDays * DAY),
    keys,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } as EcdsaParams,
    extensions: [
      new BasicConstraintsExtension(true, 0, true),
      new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign | KeyUsageFlags.digitalSignature, true),
      await SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { certPem: pemOf(cert), keyPem: PemConverter.encode(pkcs8, "PRIVATE KEY") };
}

/** A CA ready to sign leaves. Holds no PEM of its key, only a non-extractable CryptoKey. */
export interface CertificateAuthority {
  readonly certPem: string;
  /** the subject as a string, e.g. `CN=sallyport interception CA` */
  readonly subject: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** @internal what LeafCertificates signs with */
  readonly cert: X509Certificate;
  /** @internal */
  readonly signingKey: CryptoKey;
  /** @internal */
  readonly signingAlgorithm: Algorithm | EcdsaParams;
}

export interface LoadCaOptions {
  /** wall-clock ms (Date.now by default), to refuse an expired CA */
  readonly now?: number;
}

/**
 * Checks and loads a CA from PEM: one certificate with CA:true (and keyCertSign, when it has a
 * key usage), not expired, and a private key (PKCS#8, SEC1 or PKCS#1; EC P-256/384/521 or RSA)
 * whose public half is the certificate's. Rejects with a {@link CertificateError} that says
 * which check failed.
 */
export async function loadCa(certPem: string, keyPem: string, options: LoadCaOptions = {}): Promise<CertificateAuthority> {
  const lib = await x509();
  const { BasicConstraintsExtension, KeyUsageFlags, KeyUsagesExtension } = lib;
  const cert = parseCertificate(lib, certPem);
  const basic = cert.getExtension(BasicConstraintsExtension);
  if (!basic?.ca) throw new CertificateError(`the certificate ${cert.subject} is not a CA (its basic constraints do not say CA:true)`);
  const usage = cert.getExtension(KeyUsagesExtension);
  if (usage && (usage.usages & KeyUsageFlags.keyCertSign) === 0) {
    throw new CertificateError(`the CA certificate ${cert.subject} may not sign certificates (its key usage lacks keyCertSign)`);
  }
  const now = options.now ?? Date.now();
  if (cert.notAfter.getTime() <= now) throw new CertificateError(`the CA certificate ${cert.subject} expired on ${cert.notAfter.toISOString()}`);

  const key = parsePrivateKey(keyPem);
  const derived = new Uint8Array(createPublicKey(key).export({ type: "spki", format: "der" }));
  if (!equalBytes(derived, new Uint8Array(cert.publicKey.rawData))) {
    throw new CertificateError(`the private key does not belong to the CA certificate ${cert.subject}`);
  }
  const { importParams, signingAlgorithm } = signingParams(key);
  let signingKey: CryptoKey;
  try {
    signingKey = await crypto.subtle.importKey("pkcs8", key.export({ type: "pkcs8", format: "der" }), importParams, false, ["sign"]);
  } catch {
    throw new CertificateError("the CA private key could not be imported for signing");
  }
  return { certPem: pemOf(cert), subject: cert.subject, notBefore: cert.notBefore, notAfter: cert.notAfter, cert, signingKey, signingAlgorithm };
}

function parseCertificate({ X509Certificate }: X509Library, pem: string): X509Certificate {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new CertificateError("the CA certificate is not a PEM certificate (no BEGIN CERTIFICATE block)");
  if (blocks.length > 1) throw new CertificateError(`the CA certificate file holds ${blocks.length} certificates; give the CA's alone`);
  try {
    return new X509Certificate(blocks[0]!);
  } catch {
    throw new CertificateError("the CA certificate could not be parsed (its PEM block is not an X.509 certificate)");
  }
}

function parsePrivateKey(pem: string): KeyObject {
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(pem)) {
    throw new CertificateError("the CA private key is encrypted; give it unencrypted (and readable only by sallyport)");
  }
  try {
    const key = createPrivateKey(pem);
    if (key.type === "private") return key;
  } catch {
    // fall through: the library's message is not ours to repeat
  }
  throw new CertificateError("the CA private key is not a PEM private key (PKCS#8, SEC1 or PKCS#1)");
}

const CURVES: Record<string, string> = { prime256v1: "P-256", "P-256": "P-256", secp384r1: "P-384", "P-384": "P-384", secp521r1: "P-521", "P-521": "P-521" };
const CURVE_HASH: Record<string, string> = { "P-256": "SHA-256", "P-384": "SHA-384", "P-521": "SHA-512" };

function signingParams(key: KeyObject): { importParams: EcKeyImportParams | RsaHashedImportParams; signingAlgorithm: Algorithm | EcdsaParams } {
  if (key.asymmetricKeyType === "ec") {
    const curve = CURVES[String(key.asymmetricKeyDetails?.namedCurve)];
    if (curve === undefined) throw new CertificateError("the CA private key is on an unsupported curve (P-256, P-384 and P-521 are supported)");
    return { importParams: { name: "ECDSA", namedCurve: curve }, signingAlgorithm: { name: "ECDSA", hash: CURVE_HASH[curve]! } as EcdsaParams };
  }
  if (key.asymmetricKeyType === "rsa") {
    return { importParams: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, signingAlgorithm: { name: "RSASSA-PKCS1-v1_5" } };
  }
  throw new CertificateError(`the CA private key is of an unsupported type (${key.asymmetricKeyType ?? "unknown"}; EC and RSA are supported)`);
}

export interface LeafCertificatesOptions {
  readonly ca: CertificateAuthority;
  /** decides when a cached leaf is renewed; systemClock by default */
  readonly clock?: Clock;
  /** wall-clock ms for the certificates' validity dates; Date.now by default */
  readonly wallClock?: () => number;
  /** hosts kept; the least recently used goes first. 1000 by default */
  readonly maxEntries?: number;
  /** from issue to notAfter; 24 h by default (notBefore lies another hour in the past) */
  readonly validityMs?: number;
  /** a leaf this close to its notAfter is made anew; 1 h by default */
  readonly renewBeforeMs?: number;
}

interface CachedLeaf {
  readonly leaf: Promise<CertificateAndKey>;
  /** on the clock: from then on the leaf is made anew */
  readonly renewAt: number;
}

/**
 * Leaf certificates for the hosts we intercept: a DNS name gets a dNSName SAN, an IP address an
 * iPAddress SAN; serverAuth, ECDSA P-256 with a key of its own, signed by the CA. Cached per host
 * in a bounded LRU; a leaf is made anew `renewBeforeMs` before it expires (on the clock), and
 * concurrent requests for one host share one generation. A failed generation is not cached.
 */
export class LeafCertificates {
  readonly #ca: CertificateAuthority;
  readonly #clock: Clock;
  readonly #wallClock: () => number;
  readonly #maxEntries: number;
  readonly #validityMs: number;
  readonly #renewBeforeMs: number;
  /** Map order is the LRU order: the first entry is the least recently used */
  readonly #cache = new Map<string, CachedLeaf>();
  #generated = 0;

  constructor(options: LeafCertificatesOptions) {
    this.#ca = options.ca;
    this.#clock = options.clock ?? systemClock;
    this.#wallClock = options.wallClock ?? Date.now;
    this.#maxEntries = Math.max(1, options.maxEntries ?? 1000);
    this.#validityMs = options.validityMs ?? DAY;
    this.#renewBeforeMs = Math.min(options.renewBeforeMs ?? HOUR, this.#validityMs / 2);
  }

  /** hosts cached (including generations under way) */
  get size(): number {
    return this.#cache.size;
  }

  /** leaves generated so far (cache misses and renewals) */
  get generated(): number {
    return this.#generated;
  }

  /**
   * The leaf for `host` (a DNS name or an IP address, IPv6 with or without brackets; case and a
   * trailing dot do not matter). Rejects with a {@link CertificateError} for anything else.
   */
  leafFor(host: string): Promise<CertificateAndKey> {
    const name = normalizeHost(host);
    if (name === undefined) return Promise.reject(new CertificateError(`cannot make a certificate for ${JSON.stringify(host)}: not a DNS name or an IP address`));
    const key = name.value;
    const now = this.#clock.now();
    const cached = this.#cache.get(key);
    this.#cache.delete(key);
    if (cached && now < cached.renewAt) {
      this.#cache.set(key, cached);
      return cached.leaf;
    }
    const entry: CachedLeaf = { leaf: this.#generate(name), renewAt: now + this.#validityMs - this.#renewBeforeMs };
    this.#cache.set(key, entry);
    entry.leaf.catch(() => {
      if (this.#cache.get(key) === entry) this.#cache.delete(key);
    });
    while (this.#cache.size > this.#maxEntries) this.#cache.delete(this.#cache.keys().next().value!);
    return entry.leaf;
  }

  async #generate(name: JsonGeneralName): Promise<CertificateAndKey> {
    this.#generated++;
    const ca = this.#ca;
    const now = this.#wallClock();
    // never valid past the CA itself: a client would refuse the chain then anyway
    const notAfter = Math.min(now + this.#validityMs, ca.notAfter.getTime());
    try {
      const lib = await x509();
      const { BasicConstraintsExtension, ExtendedKeyUsageExtension, KeyUsageFlags, KeyUsagesExtension, PemConverter, SubjectAlternativeNameExtension, SubjectKeyIdentifierExtension } = lib;
      const keys = (await crypto.subtle.generateKey(EC_P256, true, ["sign", "verify"])) as CryptoKeyPair;
      const cert = await lib.X509CertificateGenerator.create({
        serialNumber: randomSerial(),
        subject: name.type === "dns" ? [{ CN: [name.value] }] : [],
        issuer: ca.cert.subjectName,
        notBefore: new Date(now - BACKDATE_MS),
        notAfter: new Date(notAfter),
        publicKey: keys.publicKey,
        signingKey: ca.signingKey,
        signingAlgorithm: ca.signingAlgorithm,
        extensions: [
          new BasicConstraintsExtension(false, undefined, true),
          new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
          new ExtendedKeyUsageExtension([lib.ExtendedKeyUsage.serverAuth]),
          // critical when the subject is empty (RFC 5280 §4.2.1.6)
          new SubjectAlternativeNameExtension([name], name.type !== "dns"),
          await SubjectKeyIdentifierExtension.create(keys.publicKey),
          await authorityKeyId(lib, ca.cert),
        ],
      });
      const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
      return { certPem: pemOf(cert), keyPem: PemConverter.encode(pkcs8, "PRIVATE KEY") };
    } catch {
      throw new CertificateError(`could not make a certificate for ${name.value} signed by ${ca.subject}`);
    }
  }
}

/** The CA's own subject key identifier, when it has one; else one computed from its key. */
async function authorityKeyId(lib: X509Library, ca: X509Certificate): Promise<AuthorityKeyIdentifierExtension> {
  const ski = ca.getExtension(lib.SubjectKeyIdentifierExtension);
  return ski ? new lib.AuthorityKeyIdentifierExtension(ski.keyId) : await lib.AuthorityKeyIdentifierExtension.create(ca.publicKey);
}

/** A host as a SAN: lower-case DNS name without a trailing dot, or a canonical IP address. */
function normalizeHost(host: string): JsonGeneralName | undefined {
  let text = host.trim().toLowerCase();
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1);
  if (text.endsWith(".")) text = text.slice(0, -1);
  const numeric = parseNumericHost(text);
  if (numeric.kind === "ip") return { type: "ip", value: numeric.address };
  if (numeric.kind !== "name" || text.length > 253) return undefined;
  const label = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
  if (!text.split(".").every((part) => label.test(part))) return undefined;
  return { type: "dns", value: text };
}

/** 16 random bytes, the top bit clear so the DER integer stays positive and 16 bytes long. */
function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return Buffer.from(bytes).toString("hex");
}

const pemOf = (cert: X509Certificate): string => `${cert.toString("pem").trim()}\n`;

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
