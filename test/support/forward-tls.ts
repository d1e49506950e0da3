/**
 * @module
 * More server certificates from a makeTestPki CA (./tls.ts), for names other than localhost: the
 * forward-port tests serve `api.test` over TLS, which clients reach through CONNECT and check
 * against the test CA as they would a public name.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TestPki } from "./tls.ts";

async function openssl(args: string[], cwd: string): Promise<void> {
  const p = Bun.spawn(["openssl", ...args], { cwd, stdout: "ignore", stderr: "pipe" });
  const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
  if (code !== 0) throw new Error(`openssl ${args[0]} failed: ${err}`);
}

export interface CertificateRequest {
  /** openssl's `-subj`: `/O=Acme/CN=billing` */
  readonly subject: string;
  /** `DNS:api.test`, `URI:spiffe://…`, `email:…`, `IP:127.0.0.1` */
  readonly altNames: readonly string[];
  readonly days?: number;
}

export interface SignedCertificate {
  readonly key: string;
  readonly cert: string;
  readonly keyFile: string;
  readonly certFile: string;
}

/** A P-256 key and a certificate for `request` signed by `pki`'s CA, files in `pki.dir`. */
export async function signCertificate(pki: TestPki, request: CertificateRequest): Promise<SignedCertificate> {
  const base = `cert-${request.subject.replace(/[^A-Za-z0-9.-]/g, "_")}-${crypto.randomUUID().slice(0, 8)}`;
  const ext = [...(request.altNames.length > 0 ? [`subjectAltName=${request.altNames.join(",")}`] : []), "basicConstraints=CA:FALSE"];
  await writeFile(join(pki.dir, `${base}.ext`), `${ext.join("\n")}\n`);
  await openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", request.subject, "-keyout", `${base}.key`, "-out", `${base}.csr`], pki.dir);
  // A random serial of its own, not -CAcreateserial: certificates signed at once would race on
  // the CA's shared ca.srl file ("Unable to load number from ca.srl").
  const serial = `0x${crypto.randomUUID().replaceAll("-", "").slice(0, 30)}`;
  await openssl(["x509", "-req", "-in", `${base}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", serial, "-days", String(request.days ?? 2), "-extfile", `${base}.ext`, "-out", `${base}.pem`], pki.dir);
  const keyFile = join(pki.dir, `${base}.key`);
  const certFile = join(pki.dir, `${base}.pem`);
  return { key: await readFile(keyFile, "utf8"), cert: await readFile(certFile, "utf8"), keyFile, certFile };
}

/** A key and a certificate signed by `pki`'s CA for the DNS `names` (the first is the CN), files in `pki.dir`. */
export async function signLeaf(pki: TestPki, names: readonly string[]): Promise<SignedCertificate> {
  if (names.length === 0) throw new Error("signLeaf needs at least one name");
  return signCertificate(pki, { subject: `/CN=${names[0]}`, altNames: names.map((n) => `DNS:${n}`) });
}
