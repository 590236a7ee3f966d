/**
 * `berth container move NAME --to CONTEXT`: moves a stopped-or-running container, with its image,
 * read/write layer and named volumes, to another daemon. Only standard endpoints are used, plus
 * berth's GET/PUT /containers/{id}/rwlayer for the read/write layer. The source is removed only
 * after the target has the container (running, if it was); on any failure the target is rolled
 * back and the source left as it was.
 */
import type { Readable } from 'node:stream';
import { EngineClient, FrameDemuxer, STREAM_STDERR } from '../client/index.js';

export interface MoveReport { log(line: string): void }

interface Undo { what: string; run(): Promise<unknown> }

const HELPER_DIR = '/berth-move-volume';

async function exists<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try { return await fn(); } catch (e) { if ((e as { status?: number }).status === 404) return undefined; throw e; }
}

export async function moveContainer(source: EngineClient, target: EngineClient, ref: string, report: MoveReport): Promise<string> {
  const c: any = await source.inspectContainer(ref);
  const name = String(c.Name).replace(/^\//, '');
  await target.ping();   // unreachable target: fail before touching anything
  if (await exists(() => target.inspectContainer(name))) throw new Error(`a container named "${name}" already exists on the target`);

  const undo: Undo[] = [];
  const wasRunning = !!c.State?.Running;
  let stopped = false;
  try {
    // 1. The image, unless the target already has it (same ID).
    if (!(await exists(() => target.inspectImage(c.Image)))) {
      report.log(`copying image ${c.Config.Image} (${String(c.Image).slice(7, 19)})`);
      const saved = await source.saveImages([c.Image]);
      const loaded = await target.loadImage(saved as unknown as Readable);
      await drainJsonErrors(loaded);
      undo.push({ what: 'image', run: () => target.removeImage(c.Image, { force: true }) });
      if (c.Config.Image && !String(c.Config.Image).startsWith('sha256:')) {
        const [repo, tag] = splitTag(c.Config.Image);
        await target.tagImage(c.Image, repo, tag).catch(() => undefined);
      }
    }

    // 2. Networks by name (user networks are created on the target when missing).
    const endpoints: Record<string, any> = {};
    for (const [net, ep] of Object.entries<any>(c.NetworkSettings?.Networks ?? {})) {
      endpoints[net] = { Aliases: ep.Aliases?.filter((a: string) => !String(c.Id).startsWith(a)) ?? undefined };
      if (['bridge', 'host', 'none'].includes(net)) continue;
      if (!(await exists(() => target.inspectNetwork(net)))) {
        const n: any = await source.inspectNetwork(net);
        const created = await target.createNetwork({ Name: net, Driver: n.Driver, Internal: n.Internal, Attachable: n.Attachable, Labels: n.Labels, Options: n.Options });
        undo.push({ what: `network ${net}`, run: () => target.removeNetwork(created.Id) });
      }
    }

    // 3. Stop the source so its layer and volumes are consistent.
    if (wasRunning) { report.log(`stopping ${name}`); await source.stopContainer(c.Id, {}); stopped = true; }

    // 4. Named volumes and their contents.
    for (const m of (c.Mounts ?? []).filter((x: any) => x.Type === 'volume' && x.Name)) {
      if (await exists(() => target.inspectVolume(m.Name))) throw new Error(`volume ${m.Name} already exists on the target`);
      const v: any = await source.inspectVolume(m.Name);
      await target.createVolume({ Name: m.Name, Driver: v.Driver, DriverOpts: v.Options ?? undefined, Labels: v.Labels ?? undefined });
      undo.push({ what: `volume ${m.Name}`, run: () => target.removeVolume(m.Name, { force: true }) });
      report.log(`copying volume ${m.Name}`);
      await copyVolume(source, target, c.Image, m.Name);
    }

    // 5. The container itself, with the same name and configuration.
    const config = { ...c.Config };
    const netMode = c.HostConfig?.NetworkMode ?? 'bridge';
    const created = await target.createContainer({
      ...config,
      HostConfig: c.HostConfig,
      NetworkingConfig: { EndpointsConfig: Object.fromEntries(Object.entries(endpoints).filter(([n]) => n === netMode || netMode === 'default' && n === 'bridge')) },
    } as any, { name });
    undo.push({ what: 'container', run: () => target.removeContainer(created.Id, { force: true, volumes: false }) });
    for (const [net, ep] of Object.entries(endpoints)) {
      if (net === netMode || (netMode === 'default' && net === 'bridge')) continue;
      await target.connectNetwork(net, created.Id, ep);
    }

    // 6. The read/write layer.
    report.log(`copying the read/write layer of ${name}`);
    const layer = await source.stream('GET', `/containers/${c.Id}/rwlayer`);
    await target.call('PUT', `/containers/${created.Id}/rwlayer`, { rawBody: layer, contentType: 'application/x-tar' });

    // 7. Start it where it was running, and confirm.
    if (wasRunning) {
      await target.startContainer(created.Id);
      const st: any = await target.inspectContainer(created.Id);
      if (!st.State?.Running && st.State?.ExitCode !== 0) throw new Error(`the moved container exited on the target (code ${st.State.ExitCode})`);
    }

    // 8. Only now: remove it from the source.
    await source.removeContainer(c.Id, { force: true });
    report.log(`moved ${name} (${String(created.Id).slice(0, 12)})`);
    return created.Id;
  } catch (err) {
    for (const u of undo.reverse()) await u.run().catch(() => undefined);
    if (stopped) await source.startContainer(c.Id).catch(() => undefined);
    throw err;
  }
}

/**
 * Copies a volume's files with two helper containers from the container's own image: `tar -c` on
 * the source streams through attach into `tar -x` on the target (stdin), so only standard
 * endpoints are used and the bytes never touch the client's disk.
 */
async function copyVolume(source: EngineClient, target: EngineClient, image: string, volume: string): Promise<void> {
  const helper = (cmd: string[], stdin: boolean) => ({
    Image: image, Entrypoint: [], Cmd: cmd, AttachStdout: true, AttachStderr: true,
    AttachStdin: stdin, OpenStdin: stdin, StdinOnce: stdin,
    HostConfig: { Binds: [`${volume}:${HELPER_DIR}`], NetworkMode: 'none' },
  });
  const src = await source.createContainer(helper(['tar', '-C', HELPER_DIR, '-cf', '-', '.'], false) as any, {});
  const dst = await target.createContainer(helper(['tar', '-C', HELPER_DIR, '-xf', '-'], true) as any, {});
  try {
    const out = await source.attachContainer(src.Id, { stdout: true, stderr: true });
    const inp = await target.attachContainer(dst.Id, { stdin: true, stdout: true, stderr: true });
    const dstErr: Buffer[] = [];
    const srcErr: Buffer[] = [];
    const dstDone = new Promise<void>((resolve) => {
      const demux = new FrameDemuxer();
      if (inp.head.length) for (const f of demux.push(inp.head)) if (f.stream === STREAM_STDERR) dstErr.push(f.payload);
      inp.socket.on('data', (c: Buffer) => { for (const f of demux.push(c)) if (f.stream === STREAM_STDERR) dstErr.push(f.payload); });
      inp.socket.on('end', () => resolve()); inp.socket.on('close', () => resolve()); inp.socket.on('error', () => resolve());
    });
    const srcDone = new Promise<void>((resolve, reject) => {
      const demux = new FrameDemuxer();
      const feed = (c: Buffer) => {
        for (const f of demux.push(c)) {
          if (f.stream === STREAM_STDERR) srcErr.push(f.payload);
          else if (!inp.socket.write(f.payload)) { out.socket.pause(); inp.socket.once('drain', () => out.socket.resume()); }
        }
      };
      if (out.head.length) feed(out.head);
      out.socket.on('data', feed);
      out.socket.on('end', () => resolve()); out.socket.on('close', () => resolve()); out.socket.on('error', reject);
    });
    await target.startContainer(dst.Id);
    await source.startContainer(src.Id);
    await srcDone;
    (inp.socket as any).end();   // stdin EOF: tar -x finishes
    const [sw, dw] = await Promise.all([source.waitContainer(src.Id), target.waitContainer(dst.Id)]);
    await dstDone;
    if ((sw as any).StatusCode !== 0) throw new Error(`reading volume ${volume} failed: ${Buffer.concat(srcErr).toString().trim()}`);
    if ((dw as any).StatusCode !== 0) throw new Error(`writing volume ${volume} failed: ${Buffer.concat(dstErr).toString().trim()}`);
  } finally {
    await source.removeContainer(src.Id, { force: true }).catch(() => undefined);
    await target.removeContainer(dst.Id, { force: true }).catch(() => undefined);
  }
}

async function drainJsonErrors(res: Readable): Promise<void> {
  let text = '';
  for await (const chunk of res) text += chunk;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let msg: any;
    try { msg = JSON.parse(line); } catch { continue; }
    if (msg.error) throw new Error(msg.error);
  }
}

function splitTag(ref: string): [string, string | undefined] {
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  return colon > slash ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, undefined];
}

