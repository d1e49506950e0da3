/**
 * The interception CA and its leaves: openssl and Bun's own TLS both accept what we make, the
 * cache shares, bounds and renews, and loadCa refuses what cannot sign (without quoting keys).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CertificateError, createCa, LeafCertificates, loadCa, type CertificateAndKey, type CertificateAuthority } from "../../src/tls/ca.ts";
import { FakeClock } from "../support/clock.ts";
import { makeTestPki, type TestPki } from "../support/tls.ts";

const HOUR = 3_600_000;
let dir: string;
let made: CertificateAndKey;
let ca: CertificateAuthority;
let pki: TestPki;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sallyport-tls-"));
  made = await createCa({ commonName: "sallyport test interception CA", validityDays: 30 });
  ca = await loadCa(made.certPem, made.keyPem);
  pki = await makeTestPki();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(pki.dir, { recursive: true, force: true });
});

async function openssl(...args: string[]): Promise<{ code: number; out: string }> {
  const p = Bun.spawn(["openssl", ...args], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code, out: out + err };
}

/** a Bun.serve TLS server with the leaf, reached by name at 127.0.0.1 */
async function fetchThrough(leaf: CertificateAndKey, host: string, trust: string[] | undefined): Promise<number> {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, tls: { cert: leaf.certPem, key: leaf.keyPem }, fetch: (req) => new Response(req.headers.get("host")) });
  try {
    const tls = trust ? { ca: trust, serverName: host } : { serverName: host };
    const res = await fetch(`https://127.0.0.1:${server.port}/`, { tls, headers: { host }, proxy: false, keepalive: false } as RequestInit);
    expect(await res.text()).toBe(host);
    return res.status;
  } finally {
    server.stop(true);
  }
}

describe("createCa", () => {
  test("a P-256 CA with CA:true, pathlen 0 and keyCertSign, as openssl reads it", async () => {
    await writeFile(join(dir, "made-ca.crt"), made.certPem);
    const { code, out } = await openssl("x509", "-noout", "-text", "-in", "made-ca.crt");
    expect(code).toBe(0);
    expect(out).toContain("Subject: CN = sallyport test interception CA");
    expect(out).toContain("ASN1 OID: prime256v1");
    expect(out).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(out).toMatch(/Key Usage: critical\s+.*Certificate Sign/);
    expect(made.keyPem).toStartWith("-----BEGIN PRIVATE KEY-----\n");
  });

  test("refuses a silly validity or name", async () => {
    await expect(createCa({ commonName: "x", validityDays: 0 })).rejects.toThrow(CertificateError);
    await expect(createCa({ commonName: "", validityDays: 1 })).rejects.toThrow(CertificateError);
  });
});

describe("leaves", () => {
  test("openssl verifies the leaf against the CA and shows its SAN, EKU and ~25 h validity", async () => {
    const leaf = await new LeafCertificates({ ca }).leafFor("API.Example.com.");
    await writeFile(join(dir, "ca.crt"), ca.certPem);
    await writeFile(join(dir, "leaf.crt"), leaf.certPem);
    const verify = await openssl("verify", "-CAfile", "ca.crt", "-purpose", "sslserver", "leaf.crt");
    expect(verify).toEqual({ code: 0, out: "leaf.crt: OK\n" });
    const { out } = await openssl("x509", "-noout", "-text", "-in", "leaf.crt");
    expect(out).toMatch(/Subject Alternative Name: *\n\s+DNS:api\.example\.com\n/);
    expect(out).toMatch(/Extended Key Usage: *\n\s+TLS Web Server Authentication\n/);
    expect(out).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(out).toContain("ASN1 OID: prime256v1");
    const cert = new (await import("node:crypto")).X509Certificate(leaf.certPem);
    const lifetime = Date.parse(cert.validTo) - Date.parse(cert.validFrom);
    expect(lifetime).toBe(25 * HOUR);
    expect(Date.parse(cert.validFrom)).toBeLessThan(Date.now() - HOUR / 2);
  });

  test("an IP address gets an iPAddress SAN", async () => {
    const leaf = await new LeafCertificates({ ca }).leafFor("[::1]");
    await writeFile(join(dir, "ip.crt"), leaf.certPem);
    expect((await openssl("verify", "-CAfile", "ca.crt", "ip.crt")).code).toBe(0);
    expect((await openssl("x509", "-noout", "-ext", "subjectAltName", "-in", "ip.crt")).out).toContain("IP Address:0:0:0:0:0:0:0:1");
  });

  test("Bun's fetch reaches a Bun.serve with the leaf when it trusts the CA, and fails when it does not", async () => {
    const leaf = await new LeafCertificates({ ca }).leafFor("c.test");
    expect(await fetchThrough(leaf, "c.test", [ca.certPem])).toBe(200);
    await expect(fetchThrough(leaf, "c.test", undefined)).rejects.toMatchObject({ code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" });
    // trusted CA, wrong name: the SAN is checked
    await expect(fetchThrough(leaf, "d.test", [ca.certPem])).rejects.toMatchObject({ code: "ERR_TLS_CERT_ALTNAME_INVALID" });
  });

  test("a CA made by openssl (RSA) signs leaves too", async () => {
    const rsa = await loadCa(pki.ca, await Bun.file(join(pki.dir, "ca.key")).text());
    const leaf = await new LeafCertificates({ ca: rsa }).leafFor("rsa.test");
    expect(await fetchThrough(leaf, "rsa.test", [pki.ca])).toBe(200);
  });

  test("a leaf never outlives its CA", async () => {
    const shortCa = await loadCa(...Object.values(await createCa({ commonName: "short", validityDays: 1 })) as [string, string]);
    const leaf = await new LeafCertificates({ ca: shortCa, validityMs: 7 * 24 * HOUR }).leafFor("a.test");
    const { X509Certificate } = await import("node:crypto");
    expect(Date.parse(new X509Certificate(leaf.certPem).validTo)).toBe(shortCa.notAfter.getTime());
  });

  test("refuses a host that is no DNS name or address", async () => {
    const leaves = new LeafCertificates({ ca });
    for (const host of ["", "a b", "a..b", "-a.test", "x".repeat(64) + ".test", "a/b", "*.test"]) {
      await expect(leaves.leafFor(host)).rejects.toThrow(CertificateError);
    }
    expect(leaves.size).toBe(0);
  });
});

describe("the leaf cache", () => {
  test("a second request for a host gets the same certificate; case and a trailing dot do not matter", async () => {
    const leaves = new LeafCertificates({ ca, clock: new FakeClock() });
    const first = await leaves.leafFor("a.test");
    expect(await leaves.leafFor("A.TEST.")).toBe(first);
    expect((await leaves.leafFor("b.test")).certPem).not.toBe(first.certPem);
    expect(leaves.generated).toBe(2);
  });

  test("concurrent requests for one host share one generation", async () => {
    const leaves = new LeafCertificates({ ca, clock: new FakeClock() });
    const all = await Promise.all(Array.from({ length: 20 }, () => leaves.leafFor("same.test")));
    expect(new Set(all).size).toBe(1);
    expect(leaves.generated).toBe(1);
  });

  test("a leaf is made anew before it expires, on the clock", async () => {
    const clock = new FakeClock();
    const leaves = new LeafCertificates({ ca, clock, validityMs: 24 * HOUR, renewBeforeMs: HOUR });
    const first = await leaves.leafFor("a.test");
    await clock.advance(23 * HOUR - 1);
    expect(await leaves.leafFor("a.test")).toBe(first);
    await clock.advance(1);
    const second = await leaves.leafFor("a.test");
    expect(second.certPem).not.toBe(first.certPem);
    expect(await leaves.leafFor("a.test")).toBe(second);
    expect(leaves.generated).toBe(2);
  });

  test("the cache is a bounded LRU", async () => {
    const leaves = new LeafCertificates({ ca, clock: new FakeClock(), maxEntries: 2 });
    const a = await leaves.leafFor("a.test");
    await leaves.leafFor("b.test");
    expect(await leaves.leafFor("a.test")).toBe(a); // a is now the most recently used
    await leaves.leafFor("c.test"); // evicts b
    expect(leaves.size).toBe(2);
    expect(await leaves.leafFor("a.test")).toBe(a);
    expect(leaves.generated).toBe(3);
    await leaves.leafFor("b.test");
    expect(leaves.generated).toBe(4);
  });
});

describe("loadCa", () => {
  const secretsOf = (pems: string[]) => pems.flatMap((pem) => pem.split("\n").filter((line) => line.length >= 16 && !line.startsWith("-----")));

  async function refusal(certPem: string, keyPem: string): Promise<string> {
    try {
      await loadCa(certPem, keyPem);
    } catch (e) {
      expect(e).toBeInstanceOf(CertificateError);
      const text = `${(e as Error).message} ${(e as Error).stack ?? ""} ${String((e as Error).cause ?? "")}`;
      for (const line of secretsOf([keyPem])) expect(text).not.toContain(line);
      return (e as Error).message;
    }
    throw new Error("loadCa accepted it");
  }

  test("rejects a key that is not the certificate's", async () => {
    const other = await createCa({ commonName: "other", validityDays: 1 });
    expect(await refusal(made.certPem, other.keyPem)).toBe("the private key does not belong to the CA certificate CN=sallyport test interception CA");
  });

  test("rejects a certificate that is not a CA", async () => {
    expect(await refusal(pki.cert, pki.key)).toBe("the certificate CN=localhost is not a CA (its basic constraints do not say CA:true)");
    const leaf = await new LeafCertificates({ ca }).leafFor("leaf.test");
    expect(await refusal(leaf.certPem, leaf.keyPem)).toContain("is not a CA");
  });

  test("rejects an expired CA", async () => {
    const old = await createCa({ commonName: "old", validityDays: 1, now: Date.now() - 3 * 24 * HOUR });
    expect(await refusal(old.certPem, old.keyPem)).toStartWith("the CA certificate CN=old expired on ");
  });

  test("rejects what is not PEM, with its own words and no key material", async () => {
    expect(await refusal("not a cert", made.keyPem)).toBe("the CA certificate is not a PEM certificate (no BEGIN CERTIFICATE block)");
    expect(await refusal(made.certPem + made.certPem, made.keyPem)).toContain("holds 2 certificates");
    const broken = made.keyPem.replace(/\n[A-Za-z0-9+/]{8}/, "\n!!!!!!!!");
    expect(await refusal(made.certPem, broken)).toBe("the CA private key is not a PEM private key (PKCS#8, SEC1 or PKCS#1)");
    expect(await refusal(made.certPem, made.certPem)).toBe("the CA private key is not a PEM private key (PKCS#8, SEC1 or PKCS#1)");
  });

  test("reads the SEC1 key openssl writes, and the loaded CA shows no key material", async () => {
    await writeFile(join(dir, "k8.pem"), made.keyPem);
    const { code } = await openssl("ec", "-in", "k8.pem", "-out", "sec1.pem");
    expect(code).toBe(0);
    const sec1 = await Bun.file(join(dir, "sec1.pem")).text();
    expect(sec1).toStartWith("-----BEGIN EC PRIVATE KEY-----");
    const loaded = await loadCa(made.certPem, sec1);
    const shown = `${Bun.inspect(loaded)} ${JSON.stringify(loaded)}`;
    for (const line of secretsOf([made.keyPem, sec1])) expect(shown).not.toContain(line);
    expect(loaded.signingKey.extractable).toBe(false);
  });
});
