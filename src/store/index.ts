/**
 * The metadata database: one SQLite file (WAL) per data root. Each subsystem owns its own
 * tables and creates them with `migrate` when it starts; rows are JSON documents keyed by id,
 * which keeps the schema small while the Engine API shapes evolve.
 */
import Database from 'better-sqlite3';

export type Db = Database.Database;

export function openDatabase(path: string): Db {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  return db;
}

/** Runs each statement once; statements must be idempotent (CREATE … IF NOT EXISTS). */
export function migrate(db: Db, statements: string[]): void {
  db.transaction(() => { for (const s of statements) db.exec(s); })();
}

/** A table of JSON documents keyed by id: the common shape for containers, images, networks, volumes. */
export class DocumentTable<T> {
  private readonly getStmt;
  private readonly putStmt;
  private readonly delStmt;
  private readonly allStmt;

  constructor(private readonly db: Db, readonly table: string) {
    migrate(db, [`CREATE TABLE IF NOT EXISTS ${table} (id TEXT PRIMARY KEY, doc TEXT NOT NULL)`]);
    this.getStmt = db.prepare(`SELECT doc FROM ${table} WHERE id = ?`);
    this.putStmt = db.prepare(`INSERT INTO ${table} (id, doc) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET doc = excluded.doc`);
    this.delStmt = db.prepare(`DELETE FROM ${table} WHERE id = ?`);
    this.allStmt = db.prepare(`SELECT doc FROM ${table}`);
  }

  get(id: string): T | undefined {
    const row = this.getStmt.get(id) as { doc: string } | undefined;
    return row ? (JSON.parse(row.doc) as T) : undefined;
  }

  put(id: string, doc: T): void { this.putStmt.run(id, JSON.stringify(doc)); }

  delete(id: string): boolean { return this.delStmt.run(id).changes > 0; }

  all(): T[] { return (this.allStmt.all() as { doc: string }[]).map((r) => JSON.parse(r.doc) as T); }
}
