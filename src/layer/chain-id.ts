/**
 * OCI ChainIDs: a layer is identified by its own DiffID together with every layer beneath it.
 *   ChainID(L0) = DiffID(L0);  ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln))
 */
import { createHash } from 'node:crypto';
import { InvalidParameterError } from '../errors/index.js';

const DIGEST = /^sha256:[0-9a-f]{64}$/;

export function isDigest(s: string): boolean {
  return DIGEST.test(s);
}

export function assertDigest(s: string, what: string): void {
  if (!DIGEST.test(s)) throw new InvalidParameterError(`invalid ${what} "${s}": expected sha256:<64 hex digits>`);
}

/** The ChainID of `diffId` stacked on the layer chain `parent` (null for a base layer). */
export function childChainId(parent: string | null, diffId: string): string {
  assertDigest(diffId, 'diff ID');
  if (parent === null) return diffId;
  assertDigest(parent, 'chain ID');
  return 'sha256:' + createHash('sha256').update(`${parent} ${diffId}`).digest('hex');
}

/** The ChainID of a whole stack of DiffIDs, base layer first. */
export function chainIdOf(diffIds: string[]): string {
  if (diffIds.length === 0) throw new InvalidParameterError('cannot compute a chain ID of zero layers');
  let chain: string | null = null;
  for (const d of diffIds) chain = childChainId(chain, d);
  return chain as string;
}

/** Every ChainID along a stack: result[i] is the ChainID of diffIds[0..i]. */
export function chainIdsOf(diffIds: string[]): string[] {
  const out: string[] = [];
  let chain: string | null = null;
  for (const d of diffIds) { chain = childChainId(chain, d); out.push(chain); }
  return out;
}
