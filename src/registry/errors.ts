/**
 * OCI distribution error codes and the one error type the registry throws. The HTTP edge
 * (server.ts) turns a RegistryError into `{"errors":[{"code","message","detail"}]}`.
 */
import { BerthError } from '../errors/index.js';

export type OciErrorCode =
  | 'BLOB_UNKNOWN' | 'BLOB_UPLOAD_INVALID' | 'BLOB_UPLOAD_UNKNOWN' | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN' | 'MANIFEST_INVALID' | 'MANIFEST_UNKNOWN' | 'NAME_INVALID'
  | 'NAME_UNKNOWN' | 'SIZE_INVALID' | 'UNAUTHORIZED' | 'DENIED' | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS' | 'RANGE_INVALID';

const defaultStatus: Record<OciErrorCode, number> = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
  // Not in the OCI table; distribution uses it for an out-of-order chunk (416).
  RANGE_INVALID: 416,
};

export class RegistryError extends BerthError {
  override readonly status: number;
  constructor(readonly code: OciErrorCode, message: string, readonly detail?: unknown, status?: number) {
    super(message);
    this.status = status ?? defaultStatus[code];
  }
}

export function errorBody(code: string, message: string, detail?: unknown): string {
  const e: Record<string, unknown> = { code, message };
  if (detail !== undefined) e.detail = detail;
  return JSON.stringify({ errors: [e] });
}
