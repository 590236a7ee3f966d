/** `docker commit`: a new image from a container's read/write layer and its configuration. */
import { InvalidParameterError } from '../errors/index.js';
import type { EventBus } from '../events/index.js';
import { HOST_ARCH, HOST_OS, applyChanges, ingestLayer, type ImageStore } from '../image/index.js';
import type { ContainerService } from './container-service.js';
import { containerEventAttrs } from './shapes.js';
import { mergeHealthcheck } from './health-config.js';

export interface CommitOptions {
  /** Container id or name. */
  container: string;
  /** Repository to tag the image with (no tag when empty). */
  repo?: string;
  tag?: string;
  author?: string | null;
  comment?: string | null;
  /** Pause a running container while its layer is read (Docker's default: true). */
  pause?: boolean;
  /** Dockerfile instructions applied to the config; an entry may hold several, one per line. */
  changes?: string[];
  /** Container config fields that override the container's (the request body); null, undefined and [] are ignored. */
  config?: Record<string, any>;
}

/** Commits the container to a new image, tags it if a repo is given, emits `commit`; returns the image id. */
export async function commitContainer(
  cs: ContainerService, images: ImageStore, events: EventBus, opts: CommitOptions,
): Promise<{ Id: string }> {
  if (!opts.container) throw new InvalidParameterError('No container specified');
  const c = cs.get(opts.container);
  const body = opts.config ?? {};
  const repo = opts.repo ?? ''; const tag = opts.tag ?? '';
  const author = opts.author ?? null; const comment = opts.comment ?? null;
  const pause = (opts.pause ?? true) && c.State.Status === 'running';
  const img = images.table.get(c.ImageId);
  const base = img ? await images.config(img.id) : undefined;
  if (pause) await cs.runtime.pause(c.Id).catch(() => undefined);
  let info;
  try {
    info = await ingestLayer(images.content, images.layers, { chainId: img?.chainId ?? null, diffIds: base?.rootfs?.diff_ids ?? [] }, cs.rwLayer(c.Id).tar());
  } finally { if (pause) await cs.runtime.resume(c.Id).catch(() => undefined); }
  const cc = c.Config;
  let config: Record<string, any> = {
    ...(base?.config ?? {}),
    User: cc.User, ExposedPorts: cc.ExposedPorts, Env: cc.Env, Cmd: cc.Cmd, Entrypoint: cc.Entrypoint,
    WorkingDir: cc.WorkingDir, Labels: cc.Labels, Volumes: cc.Volumes, StopSignal: cc.StopSignal, Healthcheck: cc.Healthcheck,
    ...Object.fromEntries(Object.entries(body).filter(([, v]) => v !== null && v !== undefined && !(Array.isArray(v) && !v.length))),
  };
  // A partial Healthcheck in the request is completed from the container's, field by field (Docker's merge).
  if (body.Healthcheck) config.Healthcheck = mergeHealthcheck(body.Healthcheck, cc.Healthcheck);
  const changes = (opts.changes ?? []).flatMap((x) => x.split('\n')).filter(Boolean);
  if (changes.length) config = applyChanges(config, changes);
  for (const k of Object.keys(config)) if (config[k] === undefined) delete config[k];
  const now = new Date().toISOString();
  const imageConfig = {
    architecture: base?.architecture ?? HOST_ARCH, os: base?.os ?? HOST_OS, created: now,
    ...(author ? { author } : {}),
    config, container: c.Id, container_config: { ...cc },
    rootfs: { type: 'layers', diff_ids: [...(base?.rootfs?.diff_ids ?? []), info.diffId] },
    history: [...(base?.history ?? []), { created: now, created_by: [c.Path, ...c.Args].join(' '), ...(author ? { author } : {}), ...(comment ? { comment } : {}) }],
    ...(comment ? { comment } : {}),
  };
  const rec = await images.create(Buffer.from(JSON.stringify(imageConfig)), { parent: img?.id });
  if (repo) images.tag(rec.id, tag ? `${repo}:${tag}` : repo);
  events.emit('container', 'commit', c.Id, { ...containerEventAttrs(c), comment: comment ?? '' });
  return { Id: rec.id };
}
