/**
 * The builder behind `POST /build` (classic builder semantics): Dockerfile steps become images
 * whose cache lives in the image store. The Dockerfile front end is in ./dockerfile. Only light
 * modules load with this one: the builder itself comes with the first build (build-service.ts).
 */
export { BuildService, BuildStepError } from './build-service.js';
export type { Builder, BuildOptions, BuildOutput, BuilderDeps } from './builder.js';
