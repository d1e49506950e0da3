/**
 * @module
 * A small real DNS server for tests, on 127.0.0.1 over UDP: per-name answers (A, AAAA, TTL),
 * NXDOMAIN, names it never answers (timeouts), answers that change (rebinding), and a log of
 * the queries it got. Written by hand from RFC 1035 §4: only what the tests need.
 */

export interface Answer {
  A?: string[];
  AAAA?: string[];
  /** seconds */
  ttl?: number;
}

type Behaviour = Answer | "nxdomain" | "silent";

export interface TestDns {
  /** `127.0.0.1:PORT`, what -dns-servers takes */
  readonly address: string;
  /** every query, in order: `name type` (`a.test A`) */
  readonly queries: string[];
  answer(name: string, answer: Answer): void;
  nxdomain(name: string): void;
  silent(name: string): void;
  stop(): void;
}

const TYPE_A = 1;
const TYPE_AAAA = 28;
const TYPE_NAMES: Record<number, string> = { [TYPE_A]: "A", [TYPE_AAAA]: "AAAA" };

export async function startTestDns(): Promise<TestDns> {
  const behaviours = new Map<string, Behaviour>();
  const queries: string[] = [];
  const socket = await Bun.udpSocket({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(sock, data, port, address) {
        const query = parseQuery(new Uint8Array(data));
        if (!query) return;
        queries.push(`${query.name} ${TYPE_NAMES[query.type] ?? query.type}`);
        const behaviour = behaviours.get(query.name.toLowerCase()) ?? "nxdomain";
        if (behaviour === "silent") return;
        sock.send(reply(query, behaviour), port, address);
      },
    },
  });
  return {
    address: `127.0.0.1:${socket.port}`,
    queries,
    answer: (name, answer) => void behaviours.set(name.toLowerCase(), answer),
    nxdomain: (name) => void behaviours.set(name.toLowerCase(), "nxdomain"),
    silent: (name) => void behaviours.set(name.toLowerCase(), "silent"),
    stop: () => socket.close(),
  };
}

interface Query {
  readonly id: number;
  readonly name: string;
  readonly type: number;
  /** the question section as received, echoed in the reply */
  readonly question: Uint8Array;
}

function parseQuery(msg: Uint8Array): Query | undefined {
  if (msg.length < 12) return undefined;
  const labels: string[] = [];
  let i = 12;
  while (i < msg.length && msg[i] !== 0) {
    const length = msg[i]!;
    labels.push(new TextDecoder().decode(msg.subarray(i + 1, i + 1 + length)));
    i += 1 + length;
  }
  const end = i + 5; // the root label, QTYPE, QCLASS
  if (end > msg.length) return undefined;
  return { id: (msg[0]! << 8) | msg[1]!, name: labels.join("."), type: (msg[i + 1]! << 8) | msg[i + 2]!, question: msg.subarray(12, end) };
}

function reply(query: Query, behaviour: Answer | "nxdomain"): Uint8Array {
  const records = behaviour === "nxdomain" ? [] : recordsFor(query.type, behaviour);
  const out: number[] = [query.id >> 8, query.id & 0xff, 0x81, behaviour === "nxdomain" ? 0x83 : 0x80, 0, 1, 0, records.length, 0, 0, 0, 0];
  out.push(...query.question);
  const ttl = behaviour === "nxdomain" ? 0 : (behaviour.ttl ?? 60);
  for (const rdata of records) {
    // NAME: a pointer to the question's name at offset 12
    out.push(0xc0, 12, query.type >> 8, query.type & 0xff, 0, 1, (ttl >>> 24) & 0xff, (ttl >>> 16) & 0xff, (ttl >>> 8) & 0xff, ttl & 0xff, rdata.length >> 8, rdata.length & 0xff, ...rdata);
  }
  return new Uint8Array(out);
}

function recordsFor(type: number, answer: Answer): number[][] {
  if (type === TYPE_A) return (answer.A ?? []).map((a) => a.split(".").map(Number));
  if (type === TYPE_AAAA) return (answer.AAAA ?? []).map(ipv6Bytes);
  return [];
}

function ipv6Bytes(address: string): number[] {
  const [head = "", tail = ""] = address.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = address.includes("::") ? [...h, ...Array(8 - h.length - t.length).fill("0"), ...t] : h;
  return groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]);
}
