/**
 * IP address management persisted in SQLite. A (pool, address) primary key makes a double
 * allocation impossible, also across daemon restarts and between concurrent callers; addresses
 * are handed out sequentially after the last one given (wrapping), as Docker does, so a
 * released address is not reused at once.
 */
import type { Db } from '../store/index.js';
import { migrate } from '../store/index.js';
import { ForbiddenError, UnavailableError } from '../errors/index.js';
import { formatIPv4 } from './ipv4.js';

export class Ipam {
  constructor(private readonly db: Db) {
    migrate(db, [
      `CREATE TABLE IF NOT EXISTS network_ipam (pool TEXT NOT NULL, address INTEGER NOT NULL, owner TEXT NOT NULL, PRIMARY KEY (pool, address))`,
      `CREATE TABLE IF NOT EXISTS network_ipam_cursor (pool TEXT PRIMARY KEY, last INTEGER NOT NULL)`,
    ]);
  }

  /** Claims one given address; Docker's error when it is taken. */
  reserve(pool: string, address: number, owner: string): void {
    const r = this.db.prepare(`INSERT OR IGNORE INTO network_ipam (pool, address, owner) VALUES (?, ?, ?)`).run(pool, address, owner);
    if (r.changes === 0) throw new ForbiddenError('Address already in use');
  }

  /** Claims the next free address in [first, last]. */
  allocate(pool: string, first: number, last: number, owner: string): number {
    return this.db.transaction(() => {
      const cur = this.db.prepare(`SELECT last FROM network_ipam_cursor WHERE pool = ?`).get(pool) as { last: number } | undefined;
      const taken = new Set((this.db.prepare(`SELECT address FROM network_ipam WHERE pool = ? AND address BETWEEN ? AND ?`)
        .all(pool, first, last) as { address: number }[]).map((r) => r.address));
      const count = last - first + 1;
      let start = cur && cur.last >= first && cur.last < last ? cur.last + 1 : first;
      for (let i = 0; i < count; i++) {
        const a = first + ((start - first + i) % count);
        if (!taken.has(a)) {
          this.db.prepare(`INSERT INTO network_ipam (pool, address, owner) VALUES (?, ?, ?)`).run(pool, a, owner);
          this.db.prepare(`INSERT INTO network_ipam_cursor (pool, last) VALUES (?, ?) ON CONFLICT(pool) DO UPDATE SET last = excluded.last`).run(pool, a);
          return a;
        }
      }
      throw new UnavailableError(`no available IPv4 addresses on this network's address pools: ${formatIPv4(first)}-${formatIPv4(last)}`);
    })();
  }

  release(pool: string, address: number): void {
    this.db.prepare(`DELETE FROM network_ipam WHERE pool = ? AND address = ?`).run(pool, address);
  }

  releasePool(pool: string): void {
    this.db.prepare(`DELETE FROM network_ipam WHERE pool = ?`).run(pool);
    this.db.prepare(`DELETE FROM network_ipam_cursor WHERE pool = ?`).run(pool);
  }

  allocated(pool: string): { address: string; owner: string }[] {
    return (this.db.prepare(`SELECT address, owner FROM network_ipam WHERE pool = ? ORDER BY address`).all(pool) as { address: number; owner: string }[])
      .map((r) => ({ address: formatIPv4(r.address), owner: r.owner }));
  }
}
