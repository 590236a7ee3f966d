/** Public surface of the Engine API client (used by the berth CLI and berth compose). */
export { EngineClient, compareApiVersions } from './engine-client.js';
export type { EngineClientOptions, PingResult, LogsOptions, AttachOptions, EventsOptions } from './engine-client.js';
export { DEFAULT_HOST, CLIENT_API_VERSION, FALLBACK_API_VERSION, parseHost, resolveEndpoint } from './hosts.js';
export type { EngineEndpoint, EndpointOptions, TlsOptions } from './hosts.js';
export { endpointFromEnvironment, selectedContext } from './connect.js';
export type { ConnectOptions } from './connect.js';
export { ContextStore, configDir } from './context-store.js';
export type { ContextMeta, ContextTls, DockerEndpointMeta } from './context-store.js';
export { DaemonConnectionError, EngineApiError, StreamError, daemonError, isDaemonError } from './errors.js';
export { encodeQuery, readBody, readJson, readErrorBody } from './transport.js';
export type { HijackedConnection, RequestOptions, Query } from './transport.js';
export {
  FrameDemuxer, encodeFrame, demuxStream, jsonLines,
  STREAM_STDIN, STREAM_STDOUT, STREAM_STDERR, STREAM_SYSTEMERR,
} from './streams.js';
export type { Frame, JsonMessage, DemuxTargets } from './streams.js';
export type * from './types.js';
