/** Builds the CLI's EngineClient from global flags, environment and contexts (see client/connect.ts). */
import { EngineClient, endpointFromEnvironment, selectedContext as select, type ConnectOptions, type EngineEndpoint } from '../client/index.js';
import { NotFoundError } from '../errors/index.js';
import { StatusError, type GlobalOptions } from './command.js';

function connectOptions(g: GlobalOptions): ConnectOptions {
  return {
    host: g.host, context: g.context, configDir: g.config,
    tls: g.tls, tlsVerify: g.tlsVerify, tlsCaCert: g.tlsCaCert, tlsCert: g.tlsCert, tlsKey: g.tlsKey,
  };
}

export function selectedContext(g: GlobalOptions, env: NodeJS.ProcessEnv): string {
  return select(connectOptions(g), env);
}

export function endpointFor(g: GlobalOptions, env: NodeJS.ProcessEnv): EngineEndpoint {
  try {
    return endpointFromEnvironment(connectOptions(g), env);
  } catch (e) {
    if (e instanceof NotFoundError || /has no docker endpoint/.test((e as Error).message)) throw new StatusError((e as Error).message, 1);
    throw new StatusError(`Failed to initialize: unable to resolve docker endpoint: ${(e as Error).message}`, 1);
  }
}

export function createClient(g: GlobalOptions, env: NodeJS.ProcessEnv): EngineClient {
  return new EngineClient({ endpoint: endpointFor(g, env), env });
}
