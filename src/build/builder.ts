/**
 * The classic builder (what dockerd runs for `POST /build` without BuildKit): each Dockerfile step
 * makes an image whose parent is the previous step's image. RUN runs in a build container whose
 * upper dir becomes the layer; COPY/ADD/WORKDIR write into an overlay of the current image; the
 * other instructions only change the config. A step is taken from the cache when a child image of
 * the current one was made with the same container config (Docker's ContainerConfig, whose Cmd
 * names the step, with source hashes for COPY/ADD and build args for RUN), so the cache lives in
 * the image store and survives restarts.
 */
import { appendFileSync, chownSync, existsSync, writeFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, chmodSync, createWriteStream } from 'node:fs';
import { join, posix } from 'node:path';
import { IncomingMessage } from 'node:http';
import { createHash } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InvalidParameterError, NotFoundError } from '../errors/index.js';
import type { ContainerService } from '../container/index.js';
import { HOST_ARCH, HOST_OS, familiarName, ingestLayer, parseReference, type ImageConfig, type ImageRecord, type ImageStore } from '../image/index.js';
import { diffTar, directorySize, mountOverlay, unmount } from '../layer/index.js';
import {
  BuildArgs, applyMetaArgs, commitMessage, expandFrom, expandInstruction, expansionEnv, exposedPortKeys, filesDaemonRemovesFromContext,
  nopCommand, parseDockerfile, parseInstruction, parseDockerfileAst, parseOnbuildTriggers, parseSignal, readDockerignore,
  resolveWorkdir, runCommandWithBuildArgs, runHeredocCommand, stagesNeeded,
  type AddInstruction, type Command, type CopyInstruction, type HealthConfig, type RunInstruction, type Stage,
} from './dockerfile/index.js';
import { receiveContext, type BuildContext } from './context.js';
import { collectSources, copyInto, inlineSource, parseChmod, parseChown, sourcesHash, type CopySource } from './copy.js';
import { canonicalConfig, copyRunConfig, runConfigFrom, setEnv, type RunConfig } from './run-config.js';
import { resolveInRoot } from './scoped-path.js';
import { goQuote } from './dockerfile/go-format.js';
import { BUILD_LABEL, BuildStepError, builderTmpRoot } from './build-service.js';

const DEFAULT_SHELL = ['/bin/sh', '-c'];
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** BERTH_BUILD_TRACE=<file>: step timings appended there (for tuning). */
const TRACE = process.env.BERTH_BUILD_TRACE;

export interface BuildOptions {
  dockerfile?: string;
  tags?: string[];
  buildArgs?: Record<string, string | null>;
  noCache?: boolean;
  /** Remove intermediate containers after a successful step (Docker's default), and after a failed one. */
  remove?: boolean;
  /** Always remove intermediate containers. */
  forceRemove?: boolean;
  labels?: Record<string, string>;
  target?: string;
  quiet?: boolean;
  pull?: boolean;
  networkMode?: string;
  platform?: string;
  cacheFrom?: string[];
  /** X-Registry-Config: registry credentials by registry, for pulls of base images. */
  registryAuths?: Record<string, unknown>;
  /** Resource options passed on to RUN containers (HostConfig fields). */
  hostConfig?: Record<string, unknown>;
}

/** Where the build's messages go (the API turns them into Docker's JSON stream). */
export interface BuildOutput {
  stream(text: string): void;
  aux(value: unknown): void;
  /** Other JSON messages passed through as they are (a base image's pull progress). */
  message?(value: Record<string, unknown>): void;
}

export interface BuilderDeps {
  images: ImageStore;
  containers: ContainerService;
  dataRoot: string;
  /** Fetches a missing base image (the distribution client); without it a missing image is an error. */
  pull?: (ref: string, emit: (message: Record<string, unknown>) => void, opts: { auths: Record<string, unknown>; signal?: AbortSignal }) => Promise<void>;
  log?: (msg: string) => void;
}


interface StageState {
  stage?: Stage;
  imageId: string;
  runConfig: RunConfig;
  buildArgs: BuildArgs;
  maintainer?: string;
  cmdSet: boolean;
  /** Architecture/os/variant of the base image, kept in every step's config. */
  platform: { architecture: string; os: string; variant?: string };
}

interface StageResult { name?: string; index: number; imageId: string }

const RED = '\u001b[91m';
const RESET = '\u001b[0m';

function short(id: string): string { return id.replace(/^sha256:/, '').slice(0, 12); }

function healthToDocker(h: HealthConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { Test: h.test };
  if (h.interval) out.Interval = h.interval;
  if (h.timeout) out.Timeout = h.timeout;
  if (h.startPeriod) out.StartPeriod = h.startPeriod;
  if (h.startInterval) out.StartInterval = h.startInterval;
  if (h.retries) out.Retries = h.retries;
  return out;
}

export class Builder {
  private readonly tmpRoot: string;
  private sweeping?: Promise<void>;

  constructor(private readonly d: BuilderDeps) {
    this.tmpRoot = builderTmpRoot(d.dataRoot);
  }

  /** Removes what an interrupted build left behind (build containers, mounts, temp dirs). Run once at start-up. */
  sweep(): Promise<void> {
    this.sweeping ??= this.sweepNow();
    return this.sweeping;
  }

  private async sweepNow(): Promise<void> {
    if (this.running === 0) {
      for (const c of this.d.containers.list()) {
        if (c.Config?.Labels?.[BUILD_LABEL] === undefined) continue;
        await this.d.containers.remove(c.Id, { force: true, volumes: true }).catch(() => undefined);
      }
    }
    if (!existsSync(this.tmpRoot)) return;
    const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1])
      .filter((m): m is string => !!m && m.startsWith(this.tmpRoot + '/')).sort().reverse();
    for (const m of mounts) await unmount(m).catch(() => undefined);
    for (const name of readdirSync(this.tmpRoot)) rmSync(join(this.tmpRoot, name), { recursive: true, force: true });
  }

  /**
   * POST /build/prune: the build cache is the builder's untagged step images. Removes those no tag,
   * digest or container keeps (directly or as an ancestor), children first; when no build runs,
   * also the RUN --mount=type=cache directories and the builder's scratch space. Returns the removed image IDs and the layer bytes freed.
   */
  async prune(): Promise<{ CachesDeleted: string[] | null; SpaceReclaimed: number }> {
    if (this.running === 0) await this.sweepNow();
    const images = this.d.images;
    const layerBytes = () => images.layers.list().reduce((n, l) => n + l.size, 0);
    const before = layerBytes();
    const all = images.all();
    const byId = new Map(all.map((i) => [i.id, i]));
    const keep = new Set<string>();
    const inUse = new Set(this.d.containers.list().map((c) => c.ImageId));
    for (const i of all) {
      if (!i.repoTags.length && !i.repoDigests.length && !inUse.has(i.id)) continue;
      for (let cur: typeof i | undefined = i; cur && !keep.has(cur.id); cur = cur.parent ? byId.get(cur.parent) : undefined) keep.add(cur.id);
    }
    const candidates = new Set<string>();
    for (const i of all) {
      if (keep.has(i.id)) continue;
      const cfg = await images.config(i.id).catch(() => undefined);
      if (cfg?.container_config) candidates.add(i.id);
    }
    const deleted: string[] = [];
    for (let progress = true; progress;) {
      progress = false;
      for (const id of [...candidates]) {
        if (all.some((o) => o.parent === id && byId.has(o.id) && o.id !== id)) continue;
        try { images.remove(id, false, false); } catch { candidates.delete(id); continue; }
        candidates.delete(id);
        byId.delete(id);
        const idx = all.findIndex((o) => o.id === id);
        if (idx >= 0) all.splice(idx, 1);
        deleted.push(id);
        progress = true;
      }
    }
    let reclaimed = Math.max(0, before - layerBytes());
    // RUN --mount=type=cache directories are build cache too
    const runCache = join(this.d.dataRoot, 'builder', 'run-cache');
    if (this.running === 0 && existsSync(runCache)) {
      for (const name of readdirSync(runCache)) {
        const p = join(runCache, name);
        reclaimed += await directorySize(p).catch(() => 0);
        rmSync(p, { recursive: true, force: true });
        deleted.push(`run-cache:${name}`);
      }
    }
    return { CachesDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed };
  }

  private running = 0;

  /** Runs one build; returns the final image ID. Throws before any output for bad input (HTTP error). */
  async build(context: NodeJS.ReadableStream, opts: BuildOptions, out: BuildOutput, signal?: AbortSignal): Promise<string> {
    await this.sweep();
    const platform = (opts.platform ?? '').trim();
    checkBuildPlatform(platform);
    const tags = (opts.tags ?? []).map((t) => {
      let ref;
      try { ref = parseReference(t); } catch { throw new InvalidParameterError(`invalid tag "${t}": invalid reference format`); }
      if (ref.digest) throw new InvalidParameterError(`invalid tag "${t}": refusing to create a tag with a digest reference`);
      return `${familiarName(ref)}:${ref.tag ?? 'latest'}`;
    });
    mkdirSync(this.tmpRoot, { recursive: true });
    const tmp = mkdtempSync(join(this.tmpRoot, 'b-'));
    this.running++;
    const run = new BuildRun(this.d, opts, out, tmp, signal);
    try {
      const id = await run.execute(context);
      const t0 = performance.now();
      for (const t of tags) {
        this.d.images.tag(id, t);
        if (!opts.quiet) out.stream(`Successfully tagged ${t}\n`);
      }
      run.trace(`tagged in ${(performance.now() - t0).toFixed(1)} ms`);
      // -q: the only output is the image ID, which the docker CLI prints
      if (opts.quiet) out.stream(id + '\n');
      return id;
    } finally {
      const t0 = performance.now();
      await run.cleanup();
      this.running--;
      rmSync(tmp, { recursive: true, force: true });
      run.trace(`cleaned up in ${(performance.now() - t0).toFixed(1)} ms`);
    }
  }
}

/** One build: its context, stages, temporary containers and mounts. */
class BuildRun {
  private readonly contextDir: string;
  private readonly tmpContainers = new Set<string>();
  private readonly mounts = new Set<string>();
  private readonly results: StageResult[] = [];
  private escapeToken: '\\' | '`' = '\\';
  private step = 0;
  private total = 0;
  private seq = 0;
  private readonly quiet: boolean;
  private readonly cacheRoot: string;
  private context?: BuildContext;

  constructor(private readonly d: BuilderDeps, private readonly opts: BuildOptions, private readonly rawOut: BuildOutput, private readonly tmp: string, private readonly signal?: AbortSignal) {
    this.contextDir = join(tmp, 'context');
    this.cacheRoot = join(d.dataRoot, 'builder', 'run-cache');
    this.quiet = !!opts.quiet;
  }

  private get keepContainers(): boolean { return this.opts.remove === false && !this.opts.forceRemove; }

  private print(text: string): void { if (!this.quiet) this.rawOut.stream(text); }

  trace(msg: string): void { if (TRACE) appendFileSync(TRACE, `${new Date().toISOString()} build: ${msg}\n`); }

  private checkCancelled(): void {
    if (this.signal?.aborted) throw new InvalidParameterError('build cancelled');
  }

  async cleanup(): Promise<void> {
    for (const m of [...this.mounts].reverse()) await unmount(m).catch(() => undefined);
    this.mounts.clear();
    for (const id of this.tmpContainers) await this.d.containers.remove(id, { force: true, volumes: true }).catch(() => undefined);
    this.tmpContainers.clear();
    this.context?.release();   // the context's memory (also what the hashing worker holds)
  }

  // ---- context -------------------------------------------------------------------------------

  async execute(body: NodeJS.ReadableStream): Promise<string> {
    this.loadCacheSources();
    const t0 = performance.now();
    mkdirSync(this.contextDir, { recursive: true });
    // node's HTTP parser gives each body chunk a buffer of its own: those may move to the hashing worker
    const context = this.context = await receiveContext(body, this.contextDir, { ownsChunks: body instanceof IncomingMessage });
    const cfs = context.fs;
    this.trace(`context received in ${(performance.now() - t0).toFixed(0)} ms (${context.inMemory ? 'in memory' : 'on disk'}; ${context.received.bytes} bytes, the first after ${(context.received.firstByteAt - t0).toFixed(0)} ms, ready ${(performance.now() - context.received.lastByteAt).toFixed(1)} ms after the last)`);
    const dfName = this.opts.dockerfile || 'Dockerfile';
    let dfPath = resolveInRoot(this.contextDir, dfName, true, cfs);
    if (!context.exists(dfPath) && !this.opts.dockerfile) {
      const lower = resolveInRoot(this.contextDir, 'dockerfile', true, cfs);
      if (context.exists(lower)) dfPath = lower;
    }
    let text: string;
    if (context.needsLoad(dfPath)) await context.load();   // a Dockerfile large enough to be hashed in the worker
    try { text = context.readFile(dfPath).toString('utf8'); } catch { throw new InvalidParameterError(`Cannot locate specified Dockerfile: ${dfName}`); }
    let ignore: Buffer | undefined;
    const ignorePath = resolveInRoot(this.contextDir, '.dockerignore', true, cfs);
    if (context.needsLoad(ignorePath)) await context.load();
    try { ignore = context.readFile(ignorePath); } catch { /* none */ }
    if (ignore) {
      const patterns = readDockerignore(ignore.toString('utf8'));
      for (const f of filesDaemonRemovesFromContext(patterns, dfName)) context.remove(resolveInRoot(this.contextDir, f, false, cfs));
    }
    const parsed = parseDockerfile(text);
    this.escapeToken = parsed.escapeToken;
    if (parsed.stages.length === 0) throw new InvalidParameterError('the Dockerfile (' + dfName + ') cannot be empty');
    for (const w of parsed.warnings) this.print(`[WARNING]: ${w}\n`);

    const buildArgs = BuildArgs.fromRecord(this.opts.buildArgs ?? {});
    applyMetaArgs(parsed.metaArgs, buildArgs, this.escapeToken);
    const stages = stagesNeeded(parsed.stages, this.opts.target, (s) => expandFrom(s, buildArgs, this.escapeToken).image);
    const target = stages[stages.length - 1]!;
    const labels = Object.entries(this.opts.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const commandsOf = new Map<Stage, Command[]>(stages.map((s) => [s, [...s.commands]]));
    if (labels.length) {
      const line = 'LABEL ' + labels.map(([k, v]) => `${goQuote(k)}=${goQuote(v)}`).join(' ');
      commandsOf.get(target)!.push(parseInstruction(parseDockerfileAst(line).nodes[0]!) as Command);
    }
    // Classic builder: refuse BuildKit-only flags before running anything.
    for (const s of stages) for (const c of commandsOf.get(s)!) checkClassicSupport(c);
    this.total = stages.reduce((n, s) => n + 1 + commandsOf.get(s)!.length, 0);

    let last = '';
    for (const stage of stages) {
      const stageArgs = buildArgs.forNewStage();
      const state = await this.initStage(stage, stageArgs);
      for (const cmd of commandsOf.get(stage)!) {
        this.checkCancelled();
        this.print(`Step ${++this.step}/${this.total} : ${cmd.original.trim()}\n`);
        const ts = performance.now();
        await this.dispatch(state, cmd);
        this.trace(`step ${this.step} (${cmd.kind}) in ${(performance.now() - ts).toFixed(0)} ms`);
        state.runConfig.Image = state.imageId;
        this.print(` ---> ${short(state.imageId) || '<none>'}\n`);
      }
      if (state.imageId) this.rawOut.aux({ ID: state.imageId });
      buildArgs.mergeReferencedArgs(stageArgs);
      this.results.push({ name: stage.name, index: stage.index, imageId: state.imageId });
      last = state.imageId;
    }
    const unused = buildArgs.unusedOptions();
    if (unused.length) this.print(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed\n`);
    if (!last) throw new InvalidParameterError('No image was generated. Is your Dockerfile empty?');
    this.print(`Successfully built ${short(last)}\n`);
    return last;
  }

  // ---- stages -----------------------------------------------------------------------------------

  private async resolveImage(ref: string): Promise<string> {
    const have = this.d.images.tryResolve(ref);
    if (have && !this.opts.pull) return have.id;
    if (this.d.pull) {
      let pullRef = ref;
      try {
        const parsed = parseReference(ref);
        if (!parsed.tag && !parsed.digest) pullRef = `${ref}:latest`;   // a bare name would pull every tag
      } catch { throw new InvalidParameterError(`invalid reference format: ${ref}`); }
      await this.d.pull(pullRef, (m) => { if (!this.quiet) this.rawOut.message?.(m); }, { auths: this.opts.registryAuths ?? {}, signal: this.signal });
      return this.d.images.resolve(pullRef).id;
    }
    if (have) return have.id;
    let name = ref;
    try { name = familiarName(parseReference(ref)); } catch { throw new InvalidParameterError(`invalid reference format: ${ref}`); }
    throw new NotFoundError(`pull access denied for ${name}, repository does not exist or may require 'docker login': No such image: ${ref} (pulling is not available in this daemon)`);
  }

  private async initStage(stage: Stage, buildArgs: BuildArgs): Promise<StageState> {
    this.print(`Step ${++this.step}/${this.total} : ${stage.from.original.trim()}\n`);
    const { image, platform } = expandFrom(stage, buildArgs, this.escapeToken);
    checkBuildPlatform(platform);
    const state: StageState = { stage, imageId: '', runConfig: runConfigFrom(undefined), buildArgs, cmdSet: false, platform: { architecture: HOST_ARCH, os: HOST_OS } };
    let onBuild: string[] = [];
    if (image.toLowerCase() === 'scratch') {
      this.print(' ---> \n');
    } else {
      const prev = this.results.find((r) => r.name !== undefined && r.name === image.toLowerCase());
      const id = prev ? prev.imageId : await this.resolveImage(image);
      const cfg = id ? await this.d.images.config(id) : undefined;
      state.imageId = id;
      state.runConfig = runConfigFrom(cfg?.config);
      state.platform = { architecture: cfg?.architecture ?? HOST_ARCH, os: cfg?.os ?? HOST_OS, variant: cfg?.variant };
      onBuild = [...(state.runConfig.OnBuild ?? [])];
      state.runConfig.OnBuild = null;
      state.runConfig.Image = id;
      this.print(` ---> ${short(id)}\n`);
    }
    // Docker's beginStage: a default PATH when the base has none, and never stdin
    const env: string[] = state.runConfig.Env ?? [];
    if (!env.some((e) => e.startsWith('PATH='))) state.runConfig.Env = [...env, `PATH=${DEFAULT_PATH}`];
    state.runConfig.OpenStdin = false;
    state.runConfig.StdinOnce = false;
    if (onBuild.length) {
      this.print(`# Executing ${onBuild.length} build trigger${onBuild.length > 1 ? 's' : ''}\n`);
      for (const cmd of parseOnbuildTriggers(onBuild, stage.from.startLine)) {
        checkClassicSupport(cmd);
        const ts = performance.now();
        await this.dispatch(state, cmd);
        this.trace(`step ${this.step} (${cmd.kind}) in ${(performance.now() - ts).toFixed(0)} ms`);
        state.runConfig.Image = state.imageId;
      }
    }
    return state;
  }

  // ---- steps ---------------------------------------------------------------------------------------

  private shellOf(state: StageState): string[] {
    const s = state.runConfig.Shell as string[] | undefined;
    return s && s.length ? [...s] : [...DEFAULT_SHELL];
  }

  private async dispatch(state: StageState, raw: Command): Promise<void> {
    const env = expansionEnv(state.runConfig.Env ?? [], state.buildArgs);
    const inst = expandInstruction(raw, env, this.escapeToken) as Command;
    const rc = state.runConfig;
    switch (inst.kind) {
      case 'env':
        for (const kv of inst.env) rc.Env = setEnv(rc.Env, kv.key, kv.value);
        return this.commitMeta(state, commitMessage(inst)!);
      case 'label':
        rc.Labels = { ...(rc.Labels ?? {}) };
        for (const kv of inst.labels) rc.Labels[kv.key] = kv.value;
        return this.commitMeta(state, commitMessage(inst)!);
      case 'maintainer':
        state.maintainer = inst.maintainer;
        return this.commitMeta(state, commitMessage(inst)!);
      case 'expose':
        rc.ExposedPorts = { ...(rc.ExposedPorts ?? {}) };
        for (const p of exposedPortKeys(inst.ports)) rc.ExposedPorts[p] = {};
        return this.commitMeta(state, commitMessage(inst)!);
      case 'user':
        rc.User = inst.user;
        return this.commitMeta(state, commitMessage(inst)!);
      case 'volume':
        rc.Volumes = { ...(rc.Volumes ?? {}) };
        for (const v of inst.volumes) rc.Volumes[v] = {};
        return this.commitMeta(state, commitMessage(inst)!);
      case 'stopsignal':
        parseSignal(inst.signal);
        rc.StopSignal = inst.signal;
        return this.commitMeta(state, commitMessage(inst)!);
      case 'shell':
        rc.Shell = [...inst.shell];
        return this.commitMeta(state, commitMessage(inst)!);
      case 'onbuild':
        rc.OnBuild = [...(rc.OnBuild ?? []), inst.expression];
        return this.commitMeta(state, commitMessage(inst)!);
      case 'healthcheck':
        if (rc.Healthcheck && rc.Healthcheck.Test?.[0] !== 'NONE') this.print(`Note: overriding previous HEALTHCHECK: ${JSON.stringify(rc.Healthcheck.Test)}\n`);
        rc.Healthcheck = healthToDocker(inst.health);
        return this.commitMeta(state, commitMessage(inst)!);
      case 'arg':
        for (const a of inst.args) state.buildArgs.addArg(a.key, a.value);
        return this.commitMeta(state, commitMessage(inst)!);
      case 'cmd': {
        const shell = this.shellOf(state);
        rc.Cmd = inst.prependShell ? [...shell, ...inst.command] : [...inst.command];
        rc.ArgsEscaped = undefined;
        state.cmdSet = true;
        return this.commitMeta(state, commitMessage(inst, { shell })!);
      }
      case 'entrypoint': {
        const shell = this.shellOf(state);
        rc.Entrypoint = inst.command === undefined ? null : inst.prependShell ? [...shell, ...inst.command] : [...inst.command];
        if (!state.cmdSet) rc.Cmd = null;
        return this.commitMeta(state, commitMessage(inst, { shell })!);
      }
      case 'workdir':
        return this.workdir(state, resolveWorkdir(rc.WorkingDir ?? '', inst.path));
      case 'run':
        return this.run(state, inst);
      case 'copy':
      case 'add':
        return this.copy(state, inst);
    }
  }

  /** The image of a step: the current image's config with `runConfig`, one more history entry, and maybe a layer. */
  private async commit(state: StageState, containerConfig: RunConfig, createdBy: string, layerDiffId?: string): Promise<void> {
    const images = this.d.images;
    const parent = state.imageId ? await images.config(state.imageId) : undefined;
    const created = new Date().toISOString();
    const history = [...(parent?.history ?? [])];
    const entry: NonNullable<ImageConfig['history']>[number] = { created, created_by: createdBy };
    if (state.maintainer) entry.author = state.maintainer;
    if (!layerDiffId) entry.empty_layer = true;
    history.push(entry);
    const config: Record<string, unknown> = {
      architecture: state.platform.architecture,
      ...(state.maintainer ? { author: state.maintainer } : {}),
      config: copyRunConfig(state.runConfig),
      container_config: containerConfig,
      created,
      history,
      os: state.platform.os,
      rootfs: { type: 'layers', diff_ids: [...(parent?.rootfs.diff_ids ?? []), ...(layerDiffId ? [layerDiffId] : [])] },
      ...(state.platform.variant ? { variant: state.platform.variant } : {}),
    };
    const rec = await images.create(Buffer.from(JSON.stringify(config)), { parent: state.imageId || undefined });
    if (this.children && !this.children.get(rec.parent ?? '')?.some((r) => r.id === rec.id)) {
      const list = this.children.get(rec.parent ?? '');
      if (list) list.push(rec); else this.children.set(rec.parent ?? '', [rec]);
    }
    state.imageId = rec.id;
  }

  /** Docker's probeCache: a child of the current image made with the same container config. */
  private async probeCache(state: StageState, containerConfig: RunConfig): Promise<boolean> {
    if (this.opts.noCache) return false;
    const hit = (await this.localCache(state.imageId, containerConfig)) ?? (await this.cacheFromSources(state.imageId, containerConfig));
    if (!hit) return false;
    this.print(' ---> Using cache\n');
    state.imageId = hit;
    return true;
  }

  /** The image store's images by parent, read once per build (and again when a lookup misses). */
  private children?: Map<string, ImageRecord[]>;
  /** canonicalConfig of an image's container_config, by image ID (an ID names its config). */
  private readonly canonical = new Map<string, string | undefined>();

  private childrenOf(parent: string, reread: boolean): ImageRecord[] {
    if (!this.children || reread) {
      this.children = new Map();
      for (const rec of this.d.images.all()) {
        const key = rec.parent ?? '';
        const list = this.children.get(key);
        if (list) list.push(rec); else this.children.set(key, [rec]);
      }
    }
    return this.children.get(parent) ?? [];
  }

  private async canonicalOf(id: string): Promise<string | undefined> {
    if (this.canonical.has(id)) return this.canonical.get(id);
    const cfg = await this.d.images.config(id).catch(() => undefined);
    const c = cfg?.container_config ? canonicalConfig(cfg.container_config as RunConfig) : undefined;
    this.canonical.set(id, c);
    return c;
  }

  /** Docker's local image cache: the newest child of `parent` made with this container config. */
  private async localCache(parent: string, containerConfig: RunConfig): Promise<string | undefined> {
    const want = canonicalConfig(containerConfig);
    let best: { id: string; created: string } | undefined;
    // the list read earlier in this build first; a miss reads the store again (images made meanwhile)
    for (const reread of [false, true]) {
      for (const rec of this.childrenOf(parent, reread)) {
        if ((await this.canonicalOf(rec.id)) !== want) continue;
        if (!best || rec.created > best.created) best = { id: rec.id, created: rec.created };
      }
      if (best && !this.d.images.table.get(best.id)) best = undefined;   // removed since it was read
      if (best) break;
    }
    if (best && this.cacheSources) {
      // with --cache-from, a local hit counts only on the way to one of the given images
      const sources = await this.cacheSources;
      if (!sources.some((src) => this.isAncestor(best!.id, src.id))) return undefined;
    }
    return best?.id;
  }

  private isAncestor(ancestor: string, of: string): boolean {
    for (let cur = this.d.images.table.get(of); cur; cur = cur.parent ? this.d.images.table.get(cur.parent) : undefined) {
      if (cur.id === ancestor) return true;
    }
    return false;
  }

  /** The --cache-from images that exist here (missing ones are skipped, as Docker does after a failed pull). */
  private cacheSources?: Promise<{ id: string; config: ImageConfig }[]>;

  private loadCacheSources(): void {
    const refs = (this.opts.cacheFrom ?? []).filter(Boolean);
    if (!refs.length) return;
    this.cacheSources = (async () => {
      const out: { id: string; config: ImageConfig }[] = [];
      for (const ref of refs) {
        const rec = this.d.images.tryResolve(ref);
        if (rec) out.push({ id: rec.id, config: await this.d.images.config(rec.id) });
      }
      return out;
    })();
  }

  /**
   * Docker's cache from --cache-from images without a local parent chain (loaded or pulled): the
   * next history entry of a source whose layers and history extend the current image's, with the
   * same CreatedBy, gives the step; the image for it is rebuilt from the source's layers.
   */
  private async cacheFromSources(parentId: string, containerConfig: RunConfig): Promise<string | undefined> {
    if (!this.cacheSources) return undefined;
    const sources = await this.cacheSources;
    const parent = parentId ? await this.d.images.config(parentId) : undefined;
    const parentHistory = parent?.history ?? [];
    const parentDiffs = parent?.rootfs.diff_ids ?? [];
    const createdBy = (containerConfig.Cmd ?? []).join(' ');
    for (const src of sources) {
      const history = src.config.history ?? [];
      const diffs = src.config.rootfs.diff_ids;
      if (history.length <= parentHistory.length || diffs.length < parentDiffs.length) continue;
      if (parentHistory.some((h, i) => JSON.stringify(h) !== JSON.stringify(history[i]))) continue;
      if (parentDiffs.some((d, i) => d !== diffs[i])) continue;
      const entry = history[parentHistory.length]!;
      if ((entry.created_by ?? '') !== createdBy) continue;
      const table = this.d.images.table;
      if (history.length === parentHistory.length + 1) {
        const rec = table.get(src.id);
        if (rec && parentId && rec.parent !== parentId) table.put(rec.id, { ...rec, parent: parentId });
        return src.id;
      }
      const layerIndex = history.slice(0, parentHistory.length).filter((h) => !h.empty_layer).length;
      const config = {
        architecture: src.config.architecture, ...(src.config.author ? { author: src.config.author } : {}),
        config: containerConfig, container_config: containerConfig, created: entry.created, history: [...parentHistory, entry],
        os: src.config.os, rootfs: { type: 'layers', diff_ids: entry.empty_layer ? [...parentDiffs] : [...parentDiffs, diffs[layerIndex]!] },
      };
      const rec = await this.d.images.create(Buffer.from(JSON.stringify(config)), { parent: parentId || undefined });
      this.cacheSources = Promise.resolve([src]);   // stay on this source, as Docker does
      return rec.id;
    }
    return undefined;
  }

  private async createContainer(state: StageState, body: RunConfig, extra: { mounts?: Record<string, unknown>[]; network?: string } = {}): Promise<string> {
    let network = this.opts.networkMode && this.opts.networkMode !== 'default' ? this.opts.networkMode : 'bridge';
    if (extra.network && extra.network !== 'default') network = extra.network;
    const { Id } = await this.d.containers.create({
      // the label lets a restart after a crash remove them; with --rm=false they are meant to stay
      ...body, Image: state.imageId, Labels: { ...(body.Labels ?? {}), ...(this.keepContainers ? {} : { [BUILD_LABEL]: '' }) },
      HostConfig: { NetworkMode: network, ...(this.opts.hostConfig ?? {}), ...(extra.mounts?.length ? { Mounts: extra.mounts } : {}) },
    });
    this.tmpContainers.add(Id);
    this.print(` ---> Running in ${short(Id)}\n`);
    return Id;
  }

  /**
   * RUN --mount (bind, cache, tmpfs; secret and ssh accepted, mounted only when required, which fails)
   * and --network. `key` goes into the cache key: a bind from the context by the hash of its content,
   * from a stage or image by that image, a cache mount by its id.
   */
  private async runMountPlan(state: StageState, inst: RunInstruction): Promise<{ key: string[]; prepare: () => Promise<Record<string, unknown>[]> }> {
    const key: string[] = [];
    if (inst.network && inst.network !== 'default') key.push(`network=${inst.network}`);
    const steps: (() => Promise<Record<string, unknown> | undefined>)[] = [];
    const workdir = state.runConfig.WorkingDir || '/';
    for (const m of inst.mounts) {
      const target = m.target ? posix.join('/', workdir, m.target) : undefined;
      switch (m.type) {
        case 'bind': {
          if (!target) throw new InvalidParameterError('invalid mount target ""');
          const source = m.source ?? '/';
          let fromImage: string | undefined;
          if (m.from) {
            const built = this.stageResult(m.from);
            fromImage = built ? built.imageId : await this.resolveImage(m.from);
            key.push(`bind ${target} ${m.readOnly ? 'ro' : 'rw'} ${fromImage}:${source}`);
          } else {
            const [src] = await collectSources(this.contextDir, [source], 'RUN --mount', { decompress: false, fs: this.context!.fs });
            key.push(`bind ${target} ${m.readOnly ? 'ro' : 'rw'} context:${source} ${src!.hash}`);
          }
          steps.push(async () => {
            if (fromImage === undefined) {
              await this.context!.load();
              this.context!.materialise();   // the bind needs it on disk
            }
            const root = fromImage !== undefined ? await this.mountImage(fromImage, join(this.tmp, `mnt-${++this.seq}`)) : this.contextDir;
            const host = resolveInRoot(root, source);
            if (!existsSync(host)) throw new InvalidParameterError(`RUN --mount: source ${source} not found`);
            return { Type: 'bind', Source: host, Target: target, ReadOnly: m.readOnly };
          });
          break;
        }
        case 'cache': {
          if (!target) throw new InvalidParameterError('invalid mount target ""');
          const id = m.id || target;
          key.push(`cache ${target} ${id}`);
          steps.push(async () => {
            const dir = join(this.cacheRoot, createHash('sha256').update(id).digest('hex').slice(0, 32));
            if (!existsSync(dir)) {
              mkdirSync(dir, { recursive: true });
              chmodSync(dir, m.mode ?? 0o755);
              chownSync(dir, m.uid ?? 0, m.gid ?? 0);
            }
            return { Type: 'bind', Source: dir, Target: target, ReadOnly: m.readOnly };
          });
          break;
        }
        case 'tmpfs':
          if (!target) throw new InvalidParameterError('invalid mount target ""');
          key.push(`tmpfs ${target}`);
          steps.push(async () => ({ Type: 'tmpfs', Target: target, ...(m.size ? { TmpfsOptions: { SizeBytes: m.size } } : {}) }));
          break;
        case 'secret':
        case 'ssh':
          // no secrets or ssh agents reach this builder: an optional one is left out, a required one fails
          if (m.required) throw new InvalidParameterError(`${m.type} ${m.id ?? m.target ?? 'default'}: not found`);
          break;
      }
    }
    return { key, prepare: async () => {
      const out: Record<string, unknown>[] = [];
      for (const s of steps) { const x = await s(); if (x) out.push(x); }
      return out;
    } };
  }

  private stageResult(ref: string): StageResult | undefined {
    const lower = ref.toLowerCase();
    return this.results.find((r) => r.name === lower) ?? (/^\d+$/.test(ref) ? this.results.find((r) => r.index === Number(ref)) : undefined);
  }

  /** After a successful step: removed (rm, Docker's default, or forcerm), else kept as dockerd does with --rm=false. */
  private async removeContainer(id: string): Promise<void> {
    if (this.keepContainers) {
      this.tmpContainers.delete(id);
      return;
    }
    await this.d.containers.remove(id, { force: true, volumes: true });
    this.tmpContainers.delete(id);
    this.print(`Removing intermediate container ${short(id)}\n`);
  }

  private async commitMeta(state: StageState, message: string): Promise<void> {
    const shell = this.shellOf(state);
    const probe = copyRunConfig(state.runConfig, { Cmd: nopCommand(message, shell) });
    if (await this.probeCache(state, probe)) return;
    // Docker creates (but never starts) a container for these steps; only with an image to create it from.
    const cid = state.imageId ? await this.createContainer(state, probe) : undefined;
    await this.commit(state, probe, probe.Cmd.join(' '));
    if (cid) await this.removeContainer(cid);
  }

  /** The step's layer: an upper dir of its own (COPY, ADD) or what a RUN container wrote; none when empty. */
  private async layerFrom(state: StageState, changes: string | { empty: boolean; tar(): NodeJS.ReadableStream }): Promise<string | undefined> {
    const layer = typeof changes === 'string'
      ? { empty: !existsSync(changes) || readdirSync(changes).length === 0, tar: () => diffTar(changes) }
      : changes;
    if (layer.empty) return undefined;
    const images = this.d.images;
    const rec = state.imageId ? images.resolve(state.imageId) : undefined;
    const cfg = state.imageId ? await images.config(state.imageId) : undefined;
    const info = await ingestLayer(images.content, images.layers, { chainId: rec?.chainId ?? null, diffIds: cfg?.rootfs.diff_ids ?? [] }, layer.tar());
    return info.diffId;
  }

  /** Mounts the current image with a writable upper dir at `target`. */
  private async mountImage(imageId: string, dir: string): Promise<string> {
    const rec = imageId ? this.d.images.resolve(imageId) : undefined;
    const lower = rec?.chainId ? this.d.images.layers.lowerDirs(rec.chainId) : [];
    const target = join(dir, 'rootfs');
    await mountOverlay(lower, join(dir, 'upper'), join(dir, 'work'), target);
    this.mounts.add(target);
    return target;
  }

  private async release(target: string): Promise<void> {
    await unmount(target);
    this.mounts.delete(target);
  }

  private async workdir(state: StageState, dir: string): Promise<void> {
    state.runConfig.WorkingDir = dir;
    const message = `WORKDIR ${dir}`;
    const shell = this.shellOf(state);
    const probe = copyRunConfig(state.runConfig, { Cmd: nopCommand(message, shell) });
    if (await this.probeCache(state, probe)) return;
    const cid = state.imageId ? await this.createContainer(state, probe) : undefined;
    const work = cid ? this.d.containers.dir(cid) : join(this.tmp, `step-${++this.seq}`);
    const root = await this.mountImage(state.imageId, work);
    try {
      const host = resolveInRoot(root, dir);
      if (!existsSync(host)) {
        // mkdir -p as root 0755, through the image's own symlinks
        const parts = dir.split('/').filter(Boolean);
        for (let i = 1; i <= parts.length; i++) {
          const p = resolveInRoot(root, '/' + parts.slice(0, i).join('/'));
          if (!existsSync(p)) { mkdirSync(p); chmodSync(p, 0o755); }
        }
      }
    } finally {
      await this.release(root);
    }
    const diffId = await this.layerFrom(state, join(work, 'upper'));
    await this.commit(state, probe, probe.Cmd.join(' '), diffId);
    if (cid) await this.removeContainer(cid);
  }

  private async run(state: StageState, inst: RunInstruction): Promise<void> {
    if (!state.imageId) throw new InvalidParameterError('Please provide a source image with `from` prior to run');
    const shell = this.shellOf(state);
    let cmd: string[];
    const heredoc = runHeredocCommand(inst);
    let script: { name: string; data: string } | undefined;
    if (heredoc?.kind === 'file') {
      // a #! heredoc runs as a file, as BuildKit does: mounted read-only under /dev/pipes
      script = { name: heredoc.name, data: heredoc.data };
      cmd = [`/dev/pipes/${heredoc.name}`];
    } else if (heredoc) cmd = [...shell, heredoc.script];
    else cmd = inst.prependShell ? [...shell, ...inst.command] : [...inst.command];
    const rc = state.runConfig;
    const envList: string[] = rc.Env ?? [];
    const buildArgs = state.buildArgs.filterAllowed(envList);
    const saveCmd = runCommandWithBuildArgs(state.buildArgs, envList, cmd);
    const plan = await this.runMountPlan(state, inst);
    if (script) {
      const body = script;
      plan.key.push(`heredoc ${body.name} ${createHash('sha256').update(body.data).digest('hex')}`);
      const prepare = plan.prepare;
      plan.prepare = async () => {
        const dir = join(this.tmp, `heredoc-${++this.seq}`);
        mkdirSync(dir);
        writeFileSync(join(dir, body.name), body.data, { mode: 0o755 });
        return [...(await prepare()), { Type: 'bind', Source: dir, Target: '/dev/pipes', ReadOnly: true }];
      };
    }
    const probe = copyRunConfig(rc, { Cmd: saveCmd, ArgsEscaped: undefined, ...(saveCmd.length ? { Entrypoint: null } : {}) });
    // RUN --mount/--network (BuildKit's flags, done here too) are part of the step's identity
    if (plan.key.length) probe.RunOptions = plan.key;
    if (await this.probeCache(state, probe)) return;
    const hostMounts = await plan.prepare();
    const body = copyRunConfig(rc, {
      Cmd: cmd, Env: [...envList, ...buildArgs], Entrypoint: [''], Healthcheck: { Test: ['NONE'] },
      AttachStdout: true, AttachStderr: true,
    });
    const cid = await this.createContainer(state, body, { mounts: hostMounts, network: inst.network });
    const code = await this.runContainer(cid);
    if (code !== 0) {
      // As dockerd: the failed step's container stays for inspection unless --force-rm.
      if (this.opts.forceRemove) await this.removeContainer(cid).catch(() => undefined);
      else { this.tmpContainers.delete(cid); this.d.containers.dropLabel(cid, BUILD_LABEL); }
      throw new BuildStepError(`The command '${cmd.join(' ')}' returned a non-zero code: ${code}`, code);
    }
    const diffId = await this.layerFrom(state, this.d.containers.rwLayer(cid));
    await this.commit(state, probe, saveCmd.join(' '), diffId);
    await this.removeContainer(cid);
  }

  /** Starts the container with its output joined to the build stream; resolves with the exit code. */
  private async runContainer(id: string): Promise<number> {
    const c = this.d.containers;
    let ended!: () => void;
    const outputDone = new Promise<void>((r) => { ended = r; });
    const closers: (() => void)[] = [];
    const decoders = { 1: new StringDecoder('utf8'), 2: new StringDecoder('utf8') };
    // Without a TTY every write is one Docker frame: 8-byte header (stream 1 or 2), then the data.
    const output = {
      write: (b: Buffer) => {
        if (this.quiet || b.length < 8) return true;
        const stream = b[0] === 2 ? 2 : 1;
        const text = decoders[stream].write(b.subarray(8));
        if (text) this.rawOut.stream(stream === 2 ? RED + text + RESET : text);
        return true;
      },
    } as unknown as NodeJS.WritableStream;
    await c.attach(id, {
      output, input: null, tty: false, stdout: true, stderr: true,
      end: () => ended(), onClose: (fn: () => void) => { closers.push(fn); },
    }, false);
    const waited = c.wait(id, 'next-exit');
    const onAbort = () => { void c.kill(id, 'SIGKILL').catch(() => undefined); };
    this.signal?.addEventListener('abort', onAbort);
    try {
      await c.start(id);
      const { StatusCode } = await waited;
      // the attach socket closes right after the exit; wait for the last output
      await Promise.race([outputDone, new Promise((r) => setTimeout(r, 2000).unref())]);
      this.checkCancelled();
      return StatusCode;
    } finally {
      this.signal?.removeEventListener('abort', onAbort);
      for (const f of closers) f();
    }
  }

  private async sourceRoot(from: string | undefined): Promise<{ root: string; release?: () => Promise<void> }> {
    if (from === undefined) return { root: this.contextDir };
    const built = this.stageResult(from);
    let imageId: string;
    if (built) imageId = built.imageId;
    else if (/^\d+$/.test(from)) throw new InvalidParameterError(`invalid from flag value ${from}: index out of bounds`);
    else imageId = await this.resolveImage(from);
    const dir = join(this.tmp, `from-${++this.seq}`);
    const root = await this.mountImage(imageId, dir);
    return { root, release: () => this.release(root) };
  }

  private async copy(state: StageState, inst: CopyInstruction | AddInstruction): Promise<void> {
    const cmdName = inst.kind === 'add' ? 'ADD' : 'COPY';
    const from = inst.kind === 'copy' ? inst.from : undefined;
    const src = await this.sourceRoot(from);
    try {
      const sources: CopySource[] = [];
      const local: string[] = [];
      for (const s of inst.sources) {
        if (inst.kind === 'add' && /^https?:\/\//i.test(s)) sources.push(await this.download(s));
        else local.push(s);
      }
      const decompress = inst.kind === 'add' && inst.unpack !== false;
      sources.push(...(await collectSources(src.root, local, cmdName, { decompress, fs: from === undefined ? this.context!.fs : undefined })));
      for (const f of inst.contents) sources.push(inlineSource(f.name, f.data));
      const chmod = inst.chmod ? parseChmod(inst.chmod) : undefined;
      let dest = inst.dest;
      const endsInSlash = dest.endsWith('/');
      if (!dest.startsWith('/')) dest = posix.join('/', state.runConfig.WorkingDir || '/', dest) + (endsInSlash ? '/' : '');
      const chownComment = inst.chown ? `--chown=${inst.chown} ` : '';
      const message = `${cmdName} ${chownComment}${sourcesHash(sources)} in ${inst.dest} `;
      const shell = this.shellOf(state);
      const probe = copyRunConfig(state.runConfig, { Cmd: [...shell, `#(nop) ${message}`] });
      if (chmod !== undefined) probe.Cmd = [...shell, `#(nop) ${message}--chmod=${inst.chmod}`];
      if (await this.probeCache(state, probe)) return;
      if (from === undefined) await this.context!.load();   // the files' data, from the hashing worker
      const work = join(this.tmp, `step-${++this.seq}`);
      const t0 = performance.now();
      const root = await this.mountImage(state.imageId, work);
      const t1 = performance.now();
      try {
        const identity = inst.chown ? parseChown(root, inst.chown) : { uid: 0, gid: 0 };
        await copyInto(root, sources, dest, { identity, chmod }, cmdName);
      } finally {
        await this.release(root);
      }
      const t2 = performance.now();
      const diffId = await this.layerFrom(state, join(work, 'upper'));
      this.trace(`${cmdName}: mount ${(t1 - t0).toFixed(0)} ms, copy+unmount ${(t2 - t1).toFixed(0)} ms, layer ${(performance.now() - t2).toFixed(0)} ms`);
      await this.commit(state, probe, probe.Cmd.join(' '), diffId);
      rmSync(work, { recursive: true, force: true });
    } finally {
      await src.release?.();
    }
  }

  /** ADD <url>: fetched into the build's temp dir, mode 0600, mtime from Last-Modified. */
  private async download(url: string): Promise<CopySource> {
    let res: Response;
    try {
      res = await fetch(url, { redirect: 'follow', signal: this.signal });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new InvalidParameterError(`ADD failed: failed to GET ${url}: ${cause?.message ?? (e as Error).message}${cause?.code ? ` (${cause.code})` : ''}`);
    }
    if (!res.ok) throw new InvalidParameterError(`ADD failed: failed to GET ${url} with status ${res.status} ${res.statusText}`);
    const dir = join(this.tmp, `url-${++this.seq}`);
    mkdirSync(dir);
    let name = posix.basename(new URL(url).pathname);
    if (!name || name === '/') name = '__unnamed__';
    const file = join(dir, name);
    if (!res.body) throw new InvalidParameterError(`ADD failed: empty response from ${url}`);
    await pipeline(res.body as unknown as Readable, createWriteStream(file, { mode: 0o600 }));
    chmodSync(file, 0o600);
    const lm = res.headers.get('last-modified');
    if (lm && !Number.isNaN(Date.parse(lm))) utimesSync(file, new Date(), new Date(Date.parse(lm)));
    const [s] = await collectSources(dir, [name], 'ADD', { decompress: false });
    return s!;
  }
}

/** The classic builder refuses BuildKit-only flags with Docker's message. */
function checkClassicSupport(c: Command): void {
  const buildkit = (flag: string) => new InvalidParameterError(
    `dockerfile parse error on line ${c.startLine}: the --${flag} option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled`);
  // RUN --mount and --network are done here like BuildKit does them; --security and --device are not
  if (c.kind === 'run') for (const f of c.flagsUsed) if (f !== 'mount' && f !== 'network') throw buildkit(f);
  if (c.kind === 'copy' && c.parents) throw buildkit('parents');
  if ((c.kind === 'copy' || c.kind === 'add') && c.excludes.length) throw buildkit('exclude');
  if (c.kind === 'add' && c.checksum) throw buildkit('checksum');
  if (c.kind === 'add' && c.keepGitDir) throw buildkit('keep-git-dir');
}

/** The builder runs steps here, so only this machine's platform (`linux`, `linux/ARCH`, `linux/ARCH/VARIANT`). */
function checkBuildPlatform(platform: string | undefined): void {
  if (!platform) return;
  const [os, arch, variant, ...rest] = platform.toLowerCase().split('/');
  const archOk = arch === undefined || arch === HOST_ARCH || (HOST_ARCH === 'amd64' && arch === 'x86_64');
  if (os !== HOST_OS || !archOk || (variant !== undefined && !/^v[0-9]$/.test(variant)) || rest.length) {
    throw new InvalidParameterError(`"${platform}": platform not supported by this builder (only ${HOST_OS}/${HOST_ARCH})`);
  }
}
