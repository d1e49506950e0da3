/**
 * @module
 * `sallyport ca init DIR`: writes a new interception CA as DIR/ca.crt and DIR/ca.key and prints
 * how clients trust it and how to start sallyport with it.
 *
 * - DIR is created (mode 0700) when missing; an existing DIR is used as it is.
 * - ca.key is created with mode 0600, ca.crt with 0644; both exclusively (`wx`), so an existing
 *   file is never overwritten, not even by a second `ca init` racing this one. When either file
 *   exists, neither is written.
 * - The key is never printed: only the paths are.
 */
import { lstat, mkdir, open, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { CertificateError, createCa } from "./ca.ts";

/** Where the report goes; process.stdout fits, and so does a test buffer. */
export interface TextOut {
  write(chunk: string): unknown;
}

export interface CaInitOptions {
  /** "sallyport interception CA" by default */
  readonly commonName?: string;
  /** 3650 by default */
  readonly validityDays?: number;
}

export const CA_CERT_FILE = "ca.crt";
export const CA_KEY_FILE = "ca.key";

/**
 * Writes DIR/ca.crt and DIR/ca.key and prints the trust instructions to `out`. Resolves to 0;
 * rejects with a {@link CertificateError} naming the path when a file exists or cannot be written
 * (the CLI prints it as `ca init: …`, exit 1).
 */
export async function runCaInit(dir: string, out: TextOut, options: CaInitOptions = {}): Promise<number> {
  const base = resolve(dir);
  const certPath = join(base, CA_CERT_FILE);
  const keyPath = join(base, CA_KEY_FILE);
  await mkdir(base, { recursive: true, mode: 0o700 }).catch((e: unknown) => {
    throw new CertificateError(`cannot create ${base}: ${errorCode(e)}`);
  });
  for (const path of [certPath, keyPath]) {
    if (await exists(path)) throw new CertificateError(`${path} exists; refusing to overwrite it (remove it, or choose another directory)`);
  }
  const { certPem, keyPem } = await createCa({
    commonName: options.commonName ?? "sallyport interception CA",
    validityDays: options.validityDays ?? 3650,
  });
  await writeExclusive(keyPath, keyPem, 0o600);
  try {
    await writeExclusive(certPath, certPem, 0o644);
  } catch (e) {
    await rm(keyPath, { force: true });
    throw e;
  }
  out.write(trustInstructions(certPath, keyPath));
  return 0;
}

/** What `ca init` prints after writing the files. */
export function trustInstructions(certPath: string, keyPath: string): string {
  return `Wrote ${certPath} (the CA certificate: give it to clients)
  and ${keyPath} (its private key, mode 0600: only sallyport reads it; never share it).

Start sallyport with:
  -intercept-ca-cert ${certPath} -intercept-ca-key ${keyPath} -intercept-hosts api.example.com,*.example.org

Make clients that use it as https_proxy trust the CA:
  curl:            curl --cacert ${certPath} https://api.example.com/
  Python requests: export REQUESTS_CA_BUNDLE=${certPath}
  Node.js:         export NODE_EXTRA_CA_CERTS=${certPath}
  OpenSSL-based clients, Go, Ruby: export SSL_CERT_FILE=${certPath}

--cacert, REQUESTS_CA_BUNDLE and SSL_CERT_FILE replace the system roots (NODE_EXTRA_CA_CERTS adds):
a client that also reaches hosts that are not intercepted needs a bundle of both, e.g.
  cat /etc/ssl/certs/ca-certificates.crt ${certPath} > bundle.pem
`;
}

async function writeExclusive(path: string, text: string, mode: number): Promise<void> {
  let handle;
  try {
    handle = await open(path, "wx", mode);
  } catch (e) {
    if (errorCode(e) === "EEXIST") throw new CertificateError(`${path} exists; refusing to overwrite it (remove it, or choose another directory)`);
    throw new CertificateError(`cannot create ${path}: ${errorCode(e)}`);
  }
  try {
    // the umask may only take bits away, but say it outright
    await handle.chmod(mode);
    await handle.writeFile(text);
  } catch (e) {
    await handle.close();
    await rm(path, { force: true });
    throw new CertificateError(`cannot write ${path}: ${errorCode(e)}`);
  }
  await handle.close();
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (e) {
    if (errorCode(e) === "ENOENT") return false;
    throw new CertificateError(`cannot check ${path}: ${errorCode(e)}`);
  }
}

function errorCode(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "failed";
}
