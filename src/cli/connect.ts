/**
 * Builds the EngineClient for a CLI invocation from global flags, the environment and contexts,
 * with the docker CLI's precedence: --context, DOCKER_CONTEXT, then -H/DOCKER_HOST (the default
 * context), then config.json's currentContext.
 */
import { EngineClient, parseHost, resolveEndpoint, type EngineEndpoint } from '../client/index.js';
import { StatusError, type GlobalOptions } from './command.js';
import { ContextStore, configDir } from './context-store.js';

export function selectedContext(g: GlobalOptions, env: NodeJS.ProcessEnv): string {
  if (g.context) return g.context;
  if (env.DOCKER_CONTEXT) return env.DOCKER_CONTEXT;
  if (g.host || env.DOCKER_HOST) return 'default';
  return new ContextStore(configDir(env, g.config)).current() ?? 'default';
}

export function endpointFor(g: GlobalOptions, env: NodeJS.ProcessEnv): EngineEndpoint {
  const name = selectedContext(g, env);
  try {
    if (name !== 'default') {
      const store = new ContextStore(configDir(env, g.config));
      const meta = store.get(name);
      if (!meta) throw new StatusError(`context "${name}" does not exist`, 1);
      const host = meta.Endpoints.docker?.Host;
      if (!host) throw new StatusError(`context "${name}" has no docker endpoint`, 1);
      const tls = store.tls(name);
      const ep = parseHost(host, !!tls);
      if (tls && ep.protocol === 'tcp') {
        ep.tls = { verify: !meta.Endpoints.docker?.SkipTLSVerify && !!tls.ca, ca: tls.ca, cert: tls.cert, key: tls.key };
      }
      return ep;
    }
    return resolveEndpoint({
      host: g.host, tls: g.tls, tlsVerify: g.tlsVerify, tlsCaCert: g.tlsCaCert, tlsCert: g.tlsCert, tlsKey: g.tlsKey,
    }, env);
  } catch (e) {
    if (e instanceof StatusError) throw e;
    throw new StatusError(`Failed to initialize: unable to resolve docker endpoint: ${(e as Error).message}`, 1);
  }
}

export function createClient(g: GlobalOptions, env: NodeJS.ProcessEnv): EngineClient {
  return new EngineClient({ endpoint: endpointFor(g, env), env });
}
