/**
 * The builder as the daemon holds it. The builder's code (the Dockerfile front end, contexts,
 * COPY/ADD, the classic builder: ~4 MiB resident) loads with the first build or prune, so a daemon
 * that never builds does not carry it. What a build interrupted by a crash left behind is swept at
 * start, and only then is the builder loaded at start.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidParameterError } from '../errors/index.js';
import type { Builder, BuilderDeps, BuildOptions, BuildOutput } from './builder.js';

/** Marks build containers, so a daemon restart after a crash can remove those a build left behind. */
export const BUILD_LABEL = 'berth.build.intermediate';

/** Where builds keep their scratch space while they run (empty when none runs). */
export function builderTmpRoot(dataRoot: string): string { return join(dataRoot, 'builder', 'tmp'); }

/** A build error shown with Docker's JSON error code (a failing RUN's exit status). */
export class BuildStepError extends InvalidParameterError {
  constructor(message: string, readonly code: number) { super(message); }
}

export class BuildService {
  private builder?: Promise<Builder>;

  constructor(private readonly deps: BuilderDeps) {}

  private load(): Promise<Builder> {
    this.builder ??= import('./builder.js').then((m) => new m.Builder(this.deps));
    return this.builder;
  }

  /** At start-up: removes what an interrupted build left (build containers, mounts, scratch space), if anything. */
  async sweepLeftovers(): Promise<void> {
    const tmp = builderTmpRoot(this.deps.dataRoot);
    const scratch = existsSync(tmp) && readdirSync(tmp).length > 0;
    if (scratch || this.deps.containers.list().some((c) => c.Config?.Labels?.[BUILD_LABEL] !== undefined)) await (await this.load()).sweep();
  }

  async build(context: NodeJS.ReadableStream, opts: BuildOptions, out: BuildOutput, signal?: AbortSignal): Promise<string> {
    return (await this.load()).build(context, opts, out, signal);
  }

  async prune(): ReturnType<Builder['prune']> { return (await this.load()).prune(); }
}
