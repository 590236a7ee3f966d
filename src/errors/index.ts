/**
 * Typed errors thrown by services. Each subsystem throws these; the API edge maps them
 * to HTTP status codes in one place (src/api/errors.ts), the registry to OCI error bodies,
 * and the CLI formats them.
 */
export class BerthError extends Error {
  readonly status: number = 500;
  constructor(message: string, readonly hint?: string) {
    super(message);
    this.name = new.target.name;
  }
}

export class InvalidParameterError extends BerthError { override readonly status = 400; }
export class UnauthorizedError extends BerthError { override readonly status = 401; }
export class ForbiddenError extends BerthError { override readonly status = 403; }
export class NotFoundError extends BerthError { override readonly status = 404; }
export class ConflictError extends BerthError { override readonly status = 409; }
export class NotModifiedError extends BerthError { override readonly status = 304; }
export class NotImplementedError extends BerthError { override readonly status = 501; }
export class UnavailableError extends BerthError { override readonly status = 503; }
export class SystemError extends BerthError { override readonly status = 500; }

/** HTTP status for any thrown value: typed errors carry theirs, anything else is a 500. */
export function statusOf(err: unknown): number {
  return err instanceof BerthError ? err.status : 500;
}

export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** dockerd's answer to swarm-only requests on a node in no swarm (berth is never in one). */
export function notASwarmManager(): UnavailableError {
  return new UnavailableError('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.');
}
