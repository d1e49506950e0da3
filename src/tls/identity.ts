/**
 * @module
 * Who a TLS client is, from the certificate it presented and our `-tls-client-ca` verified: the
 * subject and the subject alternative names, as the exchange record keeps them and a role of
 * the egress policy is chosen by (smokescreen takes the CN; SPIFFE IDs travel as URI SANs).
 */
import type { PeerCertificate } from "node:tls";

export interface ClientIdentity {
  /** the subject, RFC 4514 style, most specific first: `CN=billing,O=Acme` */
  readonly subject: string;
  /** the subject's (first) common name */
  readonly commonName: string | undefined;
  /** the SANs as OpenSSL names them: `URI:spiffe://…`, `DNS:billing.internal`, `email:…`, `IP Address:10.0.0.7` */
  readonly sans: readonly string[];
}

/** The identity in a verified peer certificate; undefined when the client presented none. */
export function identityOf(certificate: PeerCertificate | undefined | null): ClientIdentity | undefined {
  if (!certificate || !certificate.subject) return undefined;
  const entries = Object.entries(certificate.subject as unknown as Record<string, string | string[]>);
  const cn = certificate.subject.CN as string | string[] | undefined;
  return {
    // Node lists the RDNs in certificate order (the root-most first); RFC 4514 writes them reversed.
    subject: entries
      .flatMap(([key, value]) => (Array.isArray(value) ? value : [value]).map((v) => `${key}=${escapeValue(v)}`))
      .reverse()
      .join(","),
    commonName: Array.isArray(cn) ? cn[0] : cn,
    sans: splitAltNames(certificate.subjectaltname ?? ""),
  };
}

/** RFC 4514 §2.4: the characters that would end or split a value are escaped. */
const escapeValue = (value: string): string => value.replace(/[,+"\\<>;=]/g, (c) => `\\${c}`).replace(/^[ #]| $/g, (c) => `\\${c}`);

/**
 * `URI:a, DNS:b` → `["URI:a", "DNS:b"]`. Node quotes a name that holds a comma (`DNS:"a, b"`, JSON
 * escaping inside), so a split on `, ` outside quotes is exact.
 */
export function splitAltNames(text: string): string[] {
  const names: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\\" && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (c === "," && !quoted && text[i + 1] === " ") {
      names.push(unquote(text.slice(start, i)));
      start = i + 2;
      i++;
    }
  }
  if (start < text.length) names.push(unquote(text.slice(start)));
  return names;
}

function unquote(name: string): string {
  const colon = name.indexOf(":");
  const value = name.slice(colon + 1);
  if (colon < 0 || !value.startsWith('"')) return name;
  try {
    return `${name.slice(0, colon + 1)}${JSON.parse(value) as string}`;
  } catch {
    return name;
  }
}
