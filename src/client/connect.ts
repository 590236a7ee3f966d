/**
 * Which daemon to talk to, with the docker CLI's precedence: an explicit context (--context),
 * DOCKER_CONTEXT, then an explicit host (-H) or DOCKER_HOST (the "default" context), then the
 * config's currentContext. Shared by the berth CLI and berth compose.
 */
import { InvalidParameterError, NotFoundError } from '../errors/index.js';
import { ContextStore, configDir } from './context-store.js';
import { parseHost, resolveEndpoint, type EndpointOptions, type EngineEndpoint } from './hosts.js';

export interface ConnectOptions extends EndpointOptions {
  /** --context */
  context?: string;
  /** --config (the docker config directory; default DOCKER_CONFIG or ~/.docker) */
  configDir?: string;
}

export function selectedContext(opts: ConnectOptions, env: NodeJS.ProcessEnv): string {
  if (opts.context) return opts.context;
  if (env.DOCKER_CONTEXT) return env.DOCKER_CONTEXT;
  if (opts.host || env.DOCKER_HOST) return 'default';
  return new ContextStore(configDir(env, opts.configDir)).current() ?? 'default';
}

/** The endpoint for these options and environment; throws NotFoundError for an unknown context. */
export function endpointFromEnvironment(opts: ConnectOptions = {}, env: NodeJS.ProcessEnv = process.env): EngineEndpoint {
  const name = selectedContext(opts, env);
  if (name === 'default') return resolveEndpoint(opts, env);
  const store = new ContextStore(configDir(env, opts.configDir));
  const meta = store.get(name);
  if (!meta) throw new NotFoundError(`context "${name}" does not exist`);
  const host = meta.Endpoints.docker?.Host;
  if (!host) throw new InvalidParameterError(`context "${name}" has no docker endpoint`);
  const tls = store.tls(name);
  const ep = parseHost(host, !!tls);
  if (tls && ep.protocol === 'tcp') {
    ep.tls = { verify: !meta.Endpoints.docker?.SkipTLSVerify && !!tls.ca, ca: tls.ca, cert: tls.cert, key: tls.key };
  }
  return ep;
}
