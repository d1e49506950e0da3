/**
 * The certificate our listeners serve, on real files and the fake clock: a set that cannot serve
 * stops the start with the file and the reason (never the key); a rotation is taken at the next
 * poll; a new certificate with the old key, garbage, an emptied key, or a file gone keeps the set
 * in use and says so; the client CA is part of the set.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ServingTls, type ServingTlsOptions } from "../../src/tls/serving.ts";
import { capturedLog, tempDir } from "../secrets/helpers.ts";
import { FakeClock } from "../support/clock.ts";
import { signLeaf, type SignedCertificate } from "../support/forward-tls.ts";
import { makeTestPki, type TestPki } from "../support/tls.ts";

const POLL = 1_000;
let pki: TestPki;
let first: SignedCertificate;
let second: SignedCertificate;

beforeAll(async () => {
  pki = await makeTestPki();
  [first, second] = await Promise.all([signLeaf(pki, ["first.test"]), signLeaf(pki, ["second.test"])]);
});
afterAll(() => rm(pki.dir, { recursive: true, force: true }));

/** cert.pem and key.pem in a temp dir, holding `pair`; the options that serve them. */
async function serving(pair: SignedCertificate, extra: Partial<ServingTlsOptions> = {}) {
  const dir = await tempDir("sallyport-serving-");
  const certFile = join(dir.path, "cert.pem");
  const keyFile = join(dir.path, "key.pem");
  await Promise.all([copyFile(pair.certFile, certFile), copyFile(pair.keyFile, keyFile)]);
  const clock = new FakeClock();
  const logs = capturedLog();
  const options: ServingTlsOptions = { certFile, keyFile, clientAuth: "none", pollMs: POLL, log: logs.log, clock, ...extra };
  return { dir, certFile, keyFile, clock, logs, options };
}

describe("at start", () => {
  test("a matching pair serves; the options carry it and request no client certificate", async () => {
    const s = await serving(first);
    const tls = await ServingTls.open(s.options);
    expect(tls.options).toMatchObject({ cert: first.cert, key: first.key, requestCert: false, rejectUnauthorized: false });
    expect(tls.notAfter).toBeGreaterThan(Date.now());
    expect(tls.notAfter).toBeLessThan(Date.now() + 3 * 86_400_000);
  });

  test("a key that is not the certificate's, a file that is not PEM, a file missing: refused, naming the file, never the key", async () => {
    const s = await serving(first);
    await copyFile(second.keyFile, s.keyFile);
    const mismatch = await ServingTls.open(s.options).catch((e: Error) => e.message);
    expect(mismatch).toBe(`-tls-cert/-tls-key: ${s.keyFile} is not the key of ${s.certFile}`);
    await writeFile(s.keyFile, "not a key\n");
    expect(await ServingTls.open(s.options).catch((e: Error) => e.message)).toContain(`${s.keyFile}: not a PEM private key`);
    await writeFile(s.certFile, "not a certificate\n");
    expect(await ServingTls.open(s.options).catch((e: Error) => e.message)).toBe(`-tls-cert/-tls-key: ${s.certFile}: no PEM certificate`);
    await rm(s.certFile);
    expect(await ServingTls.open(s.options).catch((e: Error) => e.message)).toBe(`-tls-cert/-tls-key: cannot read ${s.certFile}: ENOENT`);
    for (const line of s.logs.lines) expect(line).not.toContain("PRIVATE KEY");
  });

  test("the client CA is read with the pair and makes the server ask for certificates", async () => {
    const s = await serving(first, { clientAuth: "request" });
    const tls = await ServingTls.open({ ...s.options, clientCaFile: pki.caFile });
    expect(tls.options).toMatchObject({ ca: pki.ca, requestCert: true, rejectUnauthorized: false });
    const badCa = join(s.dir.path, "ca.pem");
    await writeFile(badCa, "nothing\n");
    expect(await ServingTls.open({ ...s.options, clientCaFile: badCa }).catch((e: Error) => e.message)).toBe(`-tls-cert/-tls-key: ${badCa}: no PEM certificate`);
  });
});

describe("rotation", () => {
  test("a new pair is taken at the next poll, and logged with its subject and expiry", async () => {
    const s = await serving(first);
    const tls = await ServingTls.open(s.options);
    tls.start();
    await Promise.all([copyFile(second.certFile, s.certFile), copyFile(second.keyFile, s.keyFile)]);
    expect(tls.options.cert).toBe(first.cert);
    await s.clock.advance(POLL);
    expect(tls.options).toMatchObject({ cert: second.cert, key: second.key });
    expect(s.logs.take()).toEqual([expect.stringMatching(new RegExp(`^info TLS certificate ${s.certFile} reloaded: CN=second\\.test, valid until 20`))]);
    tls.stop();
  });

  test("half a rotation (the new certificate, the old key) keeps the old pair until the key follows", async () => {
    const s = await serving(first);
    const tls = await ServingTls.open(s.options);
    tls.start();
    await copyFile(second.certFile, s.certFile);
    await s.clock.advance(POLL);
    expect(tls.options).toMatchObject({ cert: first.cert, key: first.key });
    expect(s.logs.take()).toEqual([`warning TLS certificate ${s.certFile} not taken: ${s.keyFile} is not the key of ${s.certFile}; still serving CN=first.test`]);
    // The same bad set is not logged again at every poll.
    await s.clock.advance(POLL);
    expect(s.logs.take()).toEqual([]);
    await copyFile(second.keyFile, s.keyFile);
    await s.clock.advance(POLL);
    expect(tls.options).toMatchObject({ cert: second.cert, key: second.key });
    tls.stop();
  });

  test("an emptied key file (as `>` leaves it before the write) is refused, at start and at a poll, never taken for no key", async () => {
    const s = await serving(first);
    const tls = await ServingTls.open(s.options);
    tls.start();
    await writeFile(s.keyFile, "");
    await s.clock.advance(POLL);
    expect(tls.options).toMatchObject({ cert: first.cert, key: first.key });
    expect(s.logs.take()).toEqual([`warning TLS certificate ${s.certFile} not taken: ${s.keyFile}: not a PEM private key (empty); still serving CN=first.test`]);
    tls.stop();
    expect(await ServingTls.open(s.options).catch((e: Error) => e.message)).toBe(`-tls-cert/-tls-key: ${s.keyFile}: not a PEM private key (empty)`);
  });

  test("a file that goes away keeps the pair in use; when it is back and new, it is taken", async () => {
    const s = await serving(first);
    const tls = await ServingTls.open(s.options);
    tls.start();
    await rm(s.keyFile);
    await s.clock.advance(POLL);
    expect(tls.options.key).toBe(first.key);
    expect(s.logs.take()).toEqual([`warning cannot read TLS certificate ${s.certFile}: ${s.keyFile}: ENOENT; keeping its previous content`]);
    await Promise.all([copyFile(second.certFile, s.certFile), copyFile(second.keyFile, s.keyFile)]);
    await s.clock.advance(POLL);
    expect(tls.options.cert).toBe(second.cert);
    tls.stop();
  });

  test("stop() ends the polls", async () => {
    const s = await serving(first);
    const tls = await ServingTls.open(s.options);
    tls.start();
    tls.stop();
    await Promise.all([copyFile(second.certFile, s.certFile), copyFile(second.keyFile, s.keyFile)]);
    await s.clock.advance(POLL * 3);
    expect(tls.options.cert).toBe(first.cert);
    expect(s.clock.pending).toBe(0);
  });
});
