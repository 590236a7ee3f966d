/**
 * The builder behind `POST /build` (classic builder semantics): Dockerfile steps become images
 * whose cache lives in the image store. The Dockerfile front end is in ./dockerfile.
 */
export { Builder, BuildStepError, type BuildOptions, type BuildOutput, type BuilderDeps } from './builder.js';
export { resolveInRoot, cleanRelative } from './scoped-path.js';
export { goMatch, archiveKind } from './copy.js';
export { canonicalConfig } from './run-config.js';
