/**
 * Holds a listening socket for every published host port. Traffic never reaches these sockets
 * (the kernel DNATs it first); they make the kernel the port allocator, so a port already used by
 * a host process or another mapping is refused, random ports come from the kernel, and nobody
 * can bind a published port behind berth's back.
 */
import net from 'node:net';
import dgram from 'node:dgram';

type Holder = { close(): void };

export class PortReservations {
  private readonly held = new Map<string, Holder>();

  static key(proto: string, hostIp: string, hostPort: number): string { return `${proto}/${hostIp}:${hostPort}`; }

  /** Binds hostIp:port (0 = any free port); resolves with the port, rejects with EADDRINUSE. */
  async reserve(proto: 'tcp' | 'udp', hostIp: string, port: number): Promise<number> {
    const host = hostIp || '0.0.0.0';
    if (proto === 'tcp') {
      const srv = net.createServer((c) => c.destroy());
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen({ host, port, exclusive: true, backlog: 1 }, () => { srv.off('error', reject); resolve(); });
      });
      const got = (srv.address() as net.AddressInfo).port;
      srv.on('error', () => undefined);
      this.held.set(PortReservations.key(proto, host, got), { close: () => srv.close() });
      return got;
    }
    const sock = dgram.createSocket({ type: 'udp4' });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ address: host, port, exclusive: true }, () => { sock.off('error', reject); resolve(); });
    });
    sock.on('error', () => undefined);
    sock.on('message', () => undefined);
    const got = sock.address().port;
    this.held.set(PortReservations.key(proto, host, got), { close: () => sock.close() });
    return got;
  }

  holds(proto: string, hostIp: string, port: number): boolean {
    return this.held.has(PortReservations.key(proto, hostIp || '0.0.0.0', port));
  }

  release(proto: string, hostIp: string, port: number): void {
    const k = PortReservations.key(proto, hostIp || '0.0.0.0', port);
    this.held.get(k)?.close();
    this.held.delete(k);
  }

  releaseAll(): void {
    for (const h of this.held.values()) h.close();
    this.held.clear();
  }
}
