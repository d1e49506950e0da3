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

/** A key and a certificate signed by `pki`'s CA for the DNS `names` (the first is the CN), files in `pki.dir`. */
export async function signLeaf(pki: TestPki, names: readonly string[]): Promise<{ key: string; cert: string }> {
  if (names.length === 0) throw new Error("signLeaf needs at least one name");
  const base = `leaf-${names[0]!.replace(/[^A-Za-z0-9.-]/g, "_")}-${crypto.randomUUID().slice(0, 8)}`;
  await writeFile(join(pki.dir, `${base}.ext`), `subjectAltName=${names.map((n) => `DNS:${n}`).join(",")}\nbasicConstraints=CA:FALSE\n`);
  await openssl(["req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${names[0]}`, "-keyout", `${base}.key`, "-out", `${base}.csr`], pki.dir);
  await openssl(["x509", "-req", "-in", `${base}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", `${base}.ext`, "-out", `${base}.pem`], pki.dir);
  const read = (f: string) => readFile(join(pki.dir, f), "utf8");
  return { key: await read(`${base}.key`), cert: await read(`${base}.pem`) };
}
