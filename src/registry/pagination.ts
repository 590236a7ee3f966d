/**
 * The `n`/`last` pagination of the catalog and tag lists (distribution spec, "Listing Tags"): a
 * sorted list from after `last`, at most `n` entries (n=0: none), and a Link to the next page.
 */
import { RegistryError } from './errors.js';

export function pageOf(params: URLSearchParams, all: string[], path: string): { items: string[]; link?: string } {
  const nRaw = params.get('n');
  const last = params.get('last') ?? undefined;
  let items = last !== undefined ? all.filter((x) => x > last) : all;
  if (nRaw === null || nRaw === '') return { items };
  const n = Number(nRaw);
  if (!/^\d+$/.test(nRaw) || !Number.isSafeInteger(n)) throw new RegistryError('UNSUPPORTED', 'invalid pagination number n', { n: nRaw }, 400);
  const link = items.length > n && n > 0 ? `<${path}?n=${n}&last=${encodeURIComponent(items[n - 1])}>; rel="next"` : undefined;
  items = items.slice(0, n);
  return { items, link };
}
