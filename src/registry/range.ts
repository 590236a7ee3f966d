/** Parsing of the HTTP Range header (blob GET) and the upload Content-Range header (PATCH/PUT). */

export interface ByteRange { start: number; end: number } // inclusive

/**
 * Resolves a `Range: bytes=…` header against a resource of `size` bytes.
 * Returns undefined when the header is absent or not something we serve as a range (then the
 * whole body is sent, which RFC 9110 allows), 'unsatisfiable' for a well-formed range
 * outside the resource, or the single inclusive range to send. Multiple ranges are served whole.
 */
export function parseRangeHeader(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/.exec(header.trim());
  if (!m) return undefined;
  const [, a, b] = m;
  if (a === '' && b === '') return undefined;
  if (a === '') {
    // suffix range: the last N bytes
    const n = Number(b);
    if (n === 0) return 'unsatisfiable';
    if (size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  if (!Number.isSafeInteger(start)) return undefined;
  let end = b === '' ? size - 1 : Number(b);
  if (!Number.isSafeInteger(end)) end = size - 1;
  if (b !== '' && end < start) return undefined; // invalid syntax: ignore the header
  if (start >= size) return 'unsatisfiable';
  if (end >= size) end = size - 1;
  return { start, end };
}

/**
 * Parses an upload chunk's Content-Range. The spec's form is `<start>-<end>` (inclusive);
 * clients following RFC 9110 send `bytes <start>-<end>/<total|*>`, accepted too.
 * Returns undefined when the header is malformed.
 */
export function parseContentRange(header: string): ByteRange | undefined {
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return undefined;
  return { start, end };
}

/** The `Range` header value for an upload holding `size` bytes (distribution sends 0-0 when empty). */
export function uploadRangeHeader(size: number): string {
  return `0-${size > 0 ? size - 1 : 0}`;
}
