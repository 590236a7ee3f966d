/**
 * berth compose: loading compose projects (discovery, .env, interpolation, merge, extends, include, profiles,
 * schema validation, normalisation) and the `berth compose` command line.
 */
export type * from './types.js';
export {
  runCompose, runAsDockerCliPlugin, dockerCliPluginMetadata, servicesInDependencyOrder,
  EXIT_FILE_NOT_FOUND, EXIT_PARSE_FAILURE, EXIT_SYNTAX_FAILURE, COMPOSE_COMPAT_VERSION, BERTH_COMPOSE_VERSION,
  type ComposeIO,
} from './cli.js';
export { loadProject, loadComposeModel, resolveInputs, type ResolvedInputs } from './loader.js';
export { LoadCache } from './load-cache.js';
export { cachedProject, loadAndCache } from './project-cache.js';
export { recordInputs, inputsUnchanged, type InputObservation } from './load-inputs.js';
export { parseDotEnv } from './dotenv.js';
export { substitute, interpolateTree, extractVariables, InterpolationError, type Lookup, type VariableUse } from './interpolation.js';
export {
  findDefaultComposeFiles, normalizeProjectName, validateProjectName, resolveProjectName, DEFAULT_FILE_NAMES,
} from './discovery.js';
export { SchemaValidationError, validateComposeSchema } from './validate-schema.js';
export { findDependencyCycle, serviceDependencies, ServiceError } from './normalize.js';
export { projectToConfig, serializeService, toYaml, toJson } from './serialize.js';
export { serviceConfigHash, stableStringify } from './config-hash.js';
export { parseDuration, formatDuration, parseBytes, shellSplit } from './units.js';
export { parsePortShort, parseVolumeShort } from './short-syntax.js';
export {
  containerName, defaultImageName, dependsOnLabel, containerLabels, networkLabels, volumeLabels,
  LABEL_PROJECT, LABEL_SERVICE, LABEL_CONTAINER_NUMBER, LABEL_ONEOFF, LABEL_CONFIG_HASH, LABEL_WORKING_DIR,
  LABEL_CONFIG_FILES, LABEL_ENVIRONMENT_FILE, LABEL_DEPENDS_ON, LABEL_VERSION, LABEL_IMAGE, LABEL_NETWORK, LABEL_VOLUME,
} from './labels.js';
export {
  containerSpec, networkCreateBody, volumeCreateBody, restartPolicy, serviceNetworksByPriority,
  type ContainerSpec, type ContainerSpecOptions, type EndpointSpec,
} from './engine-spec.js';
export {
  planConvergence, projectContainers, desiredReplicas,
  type ConvergencePlan, type ConvergenceOptions, type PlannedAction, type ExistingContainer, type RecreateReason,
} from './convergence.js';
export { ComposeRuntime, splitTag, type UpOptions } from './runtime.js';
export { LogPrinter } from './log-printer.js';
export { buildContextTar, buildQuery } from './build-context.js';
