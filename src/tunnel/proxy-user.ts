/**
 * @module
 * The forward port's one question before it serves anyone, CONNECT and relayed request alike:
 * who is asking? With `-forward-auth-file` the answer is the user whose password
 * `Proxy-Authorization` carries, or 407; without it, nobody in particular.
 */
import { ProxyError } from "../exchange/errors.ts";
import { PROXY_AUTHENTICATE } from "./auth.ts";

export interface ProxyAuth {
  /** the user the header proves, or undefined */
  check(header: string | null): Promise<string | undefined>;
}

/** The proxy user; rejects with 407 and the Basic challenge when `auth` is set and the header is not right. */
export async function proxyUser(auth: ProxyAuth | undefined, header: string | null): Promise<string | undefined> {
  if (!auth) return undefined;
  const user = await auth.check(header);
  if (user !== undefined) return user;
  throw new ProxyError(407, "proxy-auth-required", "Proxy Authentication Required: send Proxy-Authorization with a user of -forward-auth-file", {
    headers: { "proxy-authenticate": PROXY_AUTHENTICATE },
  });
}
