/**
 * The raw front with and without TLS, on real sockets with curl and Bun clients: the handlers see
 * plaintext after the handshake, with the identity of a verified client certificate; a missing
 * certificate where one is required, or one the client CA does not verify, is refused with a
 * reason the listener can answer; a handshake that never comes is cut on the clock; a rotated
 * certificate reaches the next connection.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { copyFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { ClientIdentity } from "../../src/tls/identity.ts";
import { Admission } from "../../src/net/admission.ts";
import { listenFront } from "../../src/tls/listen.ts";
import { ServingTls, type ClientAuth } from "../../src/tls/serving.ts";
import { systemClock } from "../../src/util/clock.ts";
import { capturedLog, tempDir } from "../secrets/helpers.ts";
import { FakeClock } from "../support/clock.ts";
import { signCertificate, signLeaf, type SignedCertificate } from "../support/forward-tls.ts";
import { makeTestPki, type TestPki } from "../support/tls.ts";

let pki: TestPki;
let stranger: TestPki;
let server: SignedCertificate;
let billing: SignedCertificate;
let outsider: SignedCertificate;

beforeAll(async () => {
  [pki, stranger] = await Promise.all([makeTestPki(), makeTestPki()]);
  [server, billing, outsider] = await Promise.all([
    signLeaf(pki, ["localhost"]),
    signCertificate(pki, { subject: "/O=Acme/CN=billing", altNames: ["URI:spiffe://cluster.local/ns/pay/sa/billing", "DNS:billing.internal", "email:ops@example.com"] }),
    signCertificate(stranger, { subject: "/CN=billing", altNames: [] }),
  ]);
});
afterAll(async () => {
  await Promise.all([rm(pki.dir, { recursive: true, force: true }), rm(stranger.dir, { recursive: true, force: true })]);
});

interface Seen {
  opened: (ClientIdentity | undefined)[];
  refused: string[];
  closed: number;
}

/** A front that answers each connection's first bytes with who it is, and a refusal with 403. */
function front(tls: ServingTls | undefined, clock = systemClock, handshakeTimeout?: number, admission?: Admission<Socket<unknown>>) {
  const seen: Seen = { opened: [], refused: [], closed: 0 };
  const answer = (socket: Socket<{ who: string }>, status: string, body: string) => {
    socket.write(`HTTP/1.1 ${status}\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
    socket.end();
  };
  const listener: TCPSocketListener<{ who: string }> = listenFront<{ who: string }>(
    { flag: "-test", hostname: "127.0.0.1", port: 0, tls, clock, handshakeTimeout, admission },
    {
      init: () => ({ who: "" }),
      open(socket, identity) {
        seen.opened.push(identity);
        socket.data.who = identity ? `${identity.subject} ${identity.sans.join(" ")}` : "anonymous";
      },
      refused(socket, why) {
        seen.refused.push(why);
        answer(socket, "403 Forbidden", why);
      },
      data: (socket) => answer(socket, "200 OK", socket.data.who),
      close: () => void seen.closed++,
    },
  );
  return { listener, seen, [Symbol.dispose]: () => listener.stop(true) };
}

async function serving(clientAuth: ClientAuth, clock = new FakeClock()) {
  const dir = await tempDir("sallyport-listen-");
  const certFile = join(dir.path, "cert.pem");
  const keyFile = join(dir.path, "key.pem");
  await Promise.all([copyFile(server.certFile, certFile), copyFile(server.keyFile, keyFile)]);
  const tls = await ServingTls.open({ certFile, keyFile, clientCaFile: clientAuth === "none" ? undefined : pki.caFile, clientAuth, pollMs: 1_000, log: capturedLog().log, clock });
  return { tls, certFile, keyFile, clock, dir };
}

/** curl to the front; `cert` is the client certificate it presents. */
async function curl(port: number, cert?: SignedCertificate): Promise<{ code: number; out: string; err: string }> {
  const args = ["curl", "-sS", "--max-time", "10", "--cacert", pki.caFile, ...(cert ? ["--cert", cert.certFile, "--key", cert.keyFile] : []), `https://localhost:${port}/`];
  const p = Bun.spawn(args, { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

describe("plain TCP", () => {
  test("open at once, with no identity; the handlers get the bytes", async () => {
    using f = front(undefined);
    const res = await fetch(`http://127.0.0.1:${f.listener.port}/`);
    expect(await res.text()).toBe("anonymous");
    expect(f.seen.opened).toEqual([undefined]);
  });
});

describe("TLS", () => {
  test("without client authentication: curl verifies our certificate and talks through it", async () => {
    const { tls } = await serving("none");
    using f = front(tls);
    expect(await curl(f.listener.port)).toEqual({ code: 0, out: "anonymous", err: "" });
    // Even a client that offers a certificate is not asked for it.
    expect((await curl(f.listener.port, billing)).out).toBe("anonymous");
  });

  test("-tls-client-auth=request: a verified certificate's subject and SANs; none is anonymous; an untrusted one is refused", async () => {
    const { tls } = await serving("request");
    using f = front(tls);
    expect((await curl(f.listener.port, billing)).out).toBe("CN=billing,O=Acme URI:spiffe://cluster.local/ns/pay/sa/billing DNS:billing.internal email:ops@example.com");
    expect(f.seen.opened[0]).toEqual({ subject: "CN=billing,O=Acme", commonName: "billing", sans: ["URI:spiffe://cluster.local/ns/pay/sa/billing", "DNS:billing.internal", "email:ops@example.com"] });
    expect((await curl(f.listener.port)).out).toBe("anonymous");
    // Same CN, another CA: never taken for billing, nor for anonymous.
    const refused = await curl(f.listener.port, outsider);
    expect(refused.out).toStartWith("the client certificate is not trusted (");
    expect(f.seen.refused).toHaveLength(1);
    expect(f.seen.opened).toHaveLength(2);
  });

  test("-tls-client-auth=require: no certificate is refused, a verified one opens", async () => {
    const { tls } = await serving("require");
    using f = front(tls);
    expect((await curl(f.listener.port)).out).toBe("a client certificate is required");
    expect((await curl(f.listener.port, outsider)).out).toStartWith("the client certificate is not trusted");
    expect((await curl(f.listener.port, billing)).out).toStartWith("CN=billing,O=Acme ");
    expect(f.seen.refused).toEqual(["a client certificate is required", expect.stringContaining("not trusted")]);
  });

  test("a client that does not trust our certificate fails its handshake; the handlers never hear of it", async () => {
    const { tls } = await serving("none");
    using f = front(tls);
    const p = Bun.spawn(["curl", "-sS", `https://localhost:${f.listener.port}/`], { stdout: "pipe", stderr: "pipe" });
    expect(await p.exited).not.toBe(0);
    expect(f.seen).toEqual({ opened: [], refused: [], closed: 0 });
  });

  test("a handshake that does not come within the timeout is cut", async () => {
    const clock = new FakeClock();
    const { tls } = await serving("none", clock);
    using f = front(tls, clock, 5_000);
    const closed = Promise.withResolvers<void>();
    await Bun.connect({ hostname: "127.0.0.1", port: f.listener.port, socket: { data() {}, close: () => closed.resolve() } });
    await Bun.sleep(20);
    expect(clock.pending).toBe(1);
    await clock.advance(4_999);
    expect(clock.pending).toBe(1);
    await clock.advance(1);
    await closed.promise;
    expect(f.seen).toEqual({ opened: [], refused: [], closed: 0 });
  });

  test("a completed handshake cancels its timer", async () => {
    const clock = new FakeClock();
    const { tls } = await serving("none", clock);
    using f = front(tls, clock, 5_000);
    expect((await curl(f.listener.port)).out).toBe("anonymous");
    expect(clock.pending).toBe(0);
  });

  test("under -enable-tcp-queue a TLS connection's slot is freed by its close (Bun reports none for the TCP half): one slot serves one connection after another", async () => {
    const { tls } = await serving("none");
    const admission = new Admission<Socket<unknown>>({ concurrency: 1, queue: 5 });
    using f = front(tls, systemClock, undefined, admission);
    for (let i = 0; i < 3; i++) expect(await curl(f.listener.port)).toEqual({ code: 0, out: "anonymous", err: "" });
    for (let i = 0; i < 100 && admission.serving > 0; i++) await Bun.sleep(10);
    expect([admission.serving, admission.waiting]).toEqual([0, 0]);
  });

  test("a rotated certificate is served to the next connection, without a restart", async () => {
    const s = await serving("none");
    s.tls.start();
    using f = front(s.tls);
    const next = await signLeaf(pki, ["localhost", "rotated.test"]);
    await Promise.all([copyFile(next.certFile, s.certFile), copyFile(next.keyFile, s.keyFile)]);
    await s.clock.advance(1_000);
    const p = Bun.spawn(["sh", "-c", `openssl s_client -connect 127.0.0.1:${f.listener.port} -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName`], { stdout: "pipe" });
    expect(await new Response(p.stdout).text()).toContain("DNS:rotated.test");
    s.tls.stop();
  });
});
