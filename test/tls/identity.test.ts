/** The identity of a client certificate as Node/Bun report it: RFC 4514 subject, the first CN, SANs split exactly. */
import { expect, test } from "bun:test";
import type { PeerCertificate } from "node:tls";
import { identityOf, splitAltNames } from "../../src/tls/identity.ts";

const peer = (subject: Record<string, string | string[]>, subjectaltname?: string) => ({ subject, subjectaltname }) as unknown as PeerCertificate;

test("the subject most specific first, values escaped; the first CN; no certificate is no identity", () => {
  expect(identityOf(peer({ C: "DE", O: "Acme, Inc.", CN: "billing" }, "DNS:billing.internal"))).toEqual({
    subject: "CN=billing,O=Acme\\, Inc.,C=DE",
    commonName: "billing",
    sans: ["DNS:billing.internal"],
  });
  expect(identityOf(peer({ OU: ["a", "b"], CN: ["one", "two"] }))).toEqual({ subject: "CN=two,CN=one,OU=b,OU=a", commonName: "one", sans: [] });
  expect(identityOf(undefined)).toBeUndefined();
  expect(identityOf({} as PeerCertificate)).toBeUndefined();
});

test("SANs split on Node's `, ` separator, never inside a quoted name", () => {
  expect(splitAltNames("URI:spiffe://cluster.local/ns/pay/sa/billing, DNS:billing.internal, email:ops@example.com, IP Address:127.0.0.1")).toEqual([
    "URI:spiffe://cluster.local/ns/pay/sa/billing",
    "DNS:billing.internal",
    "email:ops@example.com",
    "IP Address:127.0.0.1",
  ]);
  expect(splitAltNames('DNS:"a, b", URI:"x\\"y", DNS:c')).toEqual(["DNS:a, b", 'URI:x"y', "DNS:c"]);
  expect(splitAltNames("")).toEqual([]);
});
