/**
 * Errors the Engine API client raises. Daemon errors keep the daemon's `message` and HTTP
 * status and are instances of the project's typed errors (NotFoundError for 404, ...), so
 * callers can branch with `instanceof` as the services do.
 */
import {
  BerthError, ConflictError, ForbiddenError, InvalidParameterError, NotFoundError, NotImplementedError,
  NotModifiedError, SystemError, UnauthorizedError, UnavailableError,
} from '../errors/index.js';

/** Marks an error as coming from the daemon's response (status + `{"message"}` body). */
export interface DaemonErrorInfo {
  readonly fromDaemon: true;
  readonly status: number;
}

/** A daemon error whose status has no dedicated typed class (e.g. 502). */
export class EngineApiError extends BerthError {
  constructor(message: string, status: number) {
    super(message);
    Object.defineProperty(this, 'status', { value: status, enumerable: true });
  }
}

/** Builds the typed error for a daemon response with `status` and `message`. */
export function daemonError(status: number, message: string): BerthError & DaemonErrorInfo {
  let err: BerthError;
  switch (status) {
    case 304: err = new NotModifiedError(message); break;
    case 400: err = new InvalidParameterError(message); break;
    case 401: err = new UnauthorizedError(message); break;
    case 403: err = new ForbiddenError(message); break;
    case 404: err = new NotFoundError(message); break;
    case 409: err = new ConflictError(message); break;
    case 500: err = new SystemError(message); break;
    case 501: err = new NotImplementedError(message); break;
    case 503: err = new UnavailableError(message); break;
    default: err = new EngineApiError(message, status);
  }
  Object.defineProperty(err, 'fromDaemon', { value: true, enumerable: false });
  return err as BerthError & DaemonErrorInfo;
}

/** True for errors built from a daemon response (what docker prints as "Error response from daemon: ..."). */
export function isDaemonError(err: unknown): err is BerthError & DaemonErrorInfo {
  return err instanceof BerthError && (err as Partial<DaemonErrorInfo>).fromDaemon === true;
}

/** The daemon could not be reached at all (socket missing, connection refused, TLS handshake failed). */
export class DaemonConnectionError extends Error {
  constructor(readonly host: string, readonly cause: unknown, message?: string) {
    super(message ?? `Cannot connect to the Docker daemon at ${host}. Is the docker daemon running?`);
    this.name = 'DaemonConnectionError';
  }
}

/** An error reported inside a JSON message stream (pull, push, load, build), after a 200 response. */
export class StreamError extends Error {
  constructor(message: string, readonly code?: number) {
    super(message);
    this.name = 'StreamError';
  }
}
