/**
 * The containers' SQLite table with an in-memory index of names and IDs: a create (its name must
 * be free), and every lookup by name or short ID, would otherwise parse every stored record.
 */
import { DocumentTable, type Db } from '../store/index.js';
import type { ContainerRecord } from './types.js';

export class ContainerTable extends DocumentTable<ContainerRecord> {
  private readonly idByName = new Map<string, string>();
  private readonly nameById = new Map<string, string>();

  constructor(db: Db) {
    super(db, 'containers');
    for (const c of super.all()) this.index(c);
  }

  override put(id: string, doc: ContainerRecord): void {
    super.put(id, doc);
    this.index(doc);
  }

  override delete(id: string): boolean {
    const removed = super.delete(id);
    const name = this.nameById.get(id);
    this.nameById.delete(id);
    if (name !== undefined && this.idByName.get(name) === id) this.idByName.delete(name);
    return removed;
  }

  /** The ID of the container with this name (without the leading slash). */
  idOfName(name: string): string | undefined { return this.idByName.get(name); }

  /** Every container's ID. */
  ids(): string[] { return [...this.nameById.keys()]; }

  private index(c: ContainerRecord): void {
    const old = this.nameById.get(c.Id);
    if (old !== undefined && old !== c.Name && this.idByName.get(old) === c.Id) this.idByName.delete(old);
    this.nameById.set(c.Id, c.Name);
    this.idByName.set(c.Name, c.Id);
  }
}
