/**
 * The embedded DNS server of user-defined networks. Design: one UDP socket per network, bound to
 * the network's gateway address, port 53, in the host's namespace; containers get that address
 * as their nameserver. The querying container is known from the source address, so answers cover
 * exactly the networks that container is on (names, aliases with all addresses in random order,
 * short IDs); over UDP, and over TCP for answers that do not fit a datagram. Other names are relayed to the host's resolvers; with none reachable the answer is
 * SERVFAIL within the timeout (1.5 s per resolver), never a hang.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import * as dnsPacket from 'dns-packet';

export interface DnsBackend {
  /** Addresses for `name` as seen from `clientIp` on `networkId`; null when the name is not a container's. */
  lookup(networkId: string, clientIp: string, name: string): string[] | null;
  /** Container name for a reverse lookup of one of the networks' addresses. */
  reverse(networkId: string, clientIp: string, ip: string): string | null;
  /** Resolvers to relay other names to ("ip" or "ip:port"); empty means answer SERVFAIL at once. */
  upstreams(networkId: string, clientIp: string): string[];
}

const TTL = 600;
const UPSTREAM_TIMEOUT_MS = 1500;

interface Listener { udp: dgram.Socket; tcp: net.Server; conns: Set<net.Socket> }

export class EmbeddedDns {
  private readonly listeners = new Map<string, Listener>();

  constructor(private readonly backend: DnsBackend) {}

  /** Serves UDP and TCP (length-prefixed messages, for answers too big for a datagram) on address:port. */
  async listen(networkId: string, address: string, port = 53): Promise<void> {
    if (this.listeners.has(networkId)) return;
    const udp = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, address, () => { udp.off('error', reject); resolve(); });
    });
    udp.on('error', () => { /* a bad datagram must not take the daemon down */ });
    udp.on('message', (msg, rinfo) => {
      this.answer(networkId, msg, rinfo.address)
        .then((reply) => { if (reply) udp.send(truncateForUdp(msg, reply), rinfo.port, rinfo.address); })
        .catch(() => undefined);
    });
    const conns = new Set<net.Socket>();
    const tcp = net.createServer((c) => {
      conns.add(c);
      c.on('close', () => conns.delete(c));
      c.on('error', () => c.destroy());
      c.setTimeout(10_000, () => c.destroy());
      let buf = Buffer.alloc(0);
      c.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
          buf = buf.subarray(2 + msg.length);
          this.answer(networkId, msg, c.remoteAddress?.replace(/^::ffff:/, '') ?? '')
            .then((reply) => {
              if (!reply || c.destroyed) return;
              const len = Buffer.alloc(2); len.writeUInt16BE(reply.length);
              c.write(Buffer.concat([len, reply]));
            })
            .catch(() => undefined);
        }
      });
    });
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host: address, port }, () => { tcp.off('error', reject); resolve(); });
      });
    } catch (err) {
      udp.close();
      throw err;
    }
    tcp.on('error', () => undefined);
    this.listeners.set(networkId, { udp, tcp, conns });
  }

  listening(networkId: string): boolean { return this.listeners.has(networkId); }

  async close(networkId: string): Promise<void> {
    const l = this.listeners.get(networkId);
    if (!l) return;
    this.listeners.delete(networkId);
    for (const c of l.conns) c.destroy();
    await Promise.all([
      new Promise<void>((r) => l.udp.close(() => r())),
      new Promise<void>((r) => l.tcp.close(() => r())),
    ]);
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.listeners.keys()].map((id) => this.close(id)));
  }

  /** Builds the reply for one query (exported logic, used by unit tests). */
  async answer(networkId: string, msg: Buffer, clientIp: string): Promise<Buffer | null> {
    let query: dnsPacket.Packet;
    try { query = dnsPacket.decode(msg); } catch { return null; }
    const q = query.questions?.[0];
    if (!q || query.type !== 'query') return null;
    const name = q.name.replace(/\.$/, '').toLowerCase();
    const reply = (rcode: string, answers: dnsPacket.Answer[] = []) => dnsPacket.encode({
      type: 'response', id: query.id,
      // Not authoritative, as dockerd's resolver answers (nslookup says "Non-authoritative answer").
      flags: (query.flags! & dnsPacket.RECURSION_DESIRED) | dnsPacket.RECURSION_AVAILABLE | rcodeBits(rcode),
      questions: [q], answers,
    });

    if (q.type === 'PTR') {
      const ip = ptrToIp(name);
      const host = ip ? this.backend.reverse(networkId, clientIp, ip) : null;
      if (host) return reply('NOERROR', [{ type: 'PTR', name: q.name, ttl: TTL, class: 'IN', data: host }]);
    } else {
      const addrs = this.backend.lookup(networkId, clientIp, name);
      if (addrs) {
        if (q.type !== 'A' && (q.type as string) !== 'ANY') return reply('NOERROR');
        return reply('NOERROR', shuffle(addrs).map((a) => ({ type: 'A', name: q.name, ttl: TTL, class: 'IN', data: a }) as dnsPacket.Answer));
      }
    }
    const relayed = await relay(msg, this.backend.upstreams(networkId, clientIp));
    return relayed ?? reply('SERVFAIL');
  }
}

/**
 * A UDP reply larger than the client can take (512 bytes without EDNS, else its advertised size)
 * is cut to the header and question with the TC flag set: the client retries over TCP.
 */
export function truncateForUdp(query: Buffer, reply: Buffer): Buffer {
  let limit = 512;
  try {
    const opt = dnsPacket.decode(query).additionals?.find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;
    if (opt?.udpPayloadSize) limit = Math.max(512, opt.udpPayloadSize);
  } catch { /* the query was decoded before; keep the default */ }
  if (reply.length <= limit) return reply;
  const r = dnsPacket.decode(reply);
  return dnsPacket.encode({ type: 'response', id: r.id, flags: (r.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE, questions: r.questions, answers: [] });
}

function rcodeBits(rcode: string): number {
  return ({ NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 } as Record<string, number>)[rcode] ?? 2;
}

function shuffle<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); [a[i], a[j]] = [a[j], a[i]]; }
  return a;
}

function ptrToIp(name: string): string | null {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\.in-addr\.arpa$/.exec(name);
  return m ? `${m[4]}.${m[3]}.${m[2]}.${m[1]}` : null;
}

/** Sends the query to each resolver in turn; the first reply wins. */
async function relay(msg: Buffer, upstreams: string[]): Promise<Buffer | null> {
  for (const u of upstreams) {
    const [host, port] = u.includes(':') ? [u.slice(0, u.lastIndexOf(':')), Number(u.slice(u.lastIndexOf(':') + 1))] : [u, 53];
    const res = await new Promise<Buffer | null>((resolve) => {
      const s = dgram.createSocket('udp4');
      const done = (b: Buffer | null) => { clearTimeout(t); try { s.close(); } catch { /* closed */ } resolve(b); };
      const t = setTimeout(() => done(null), UPSTREAM_TIMEOUT_MS);
      s.on('error', () => done(null));
      s.on('message', (b) => done(b));
      s.send(msg, port, host, (err) => { if (err) done(null); });
    });
    if (res) return res;
  }
  return null;
}
