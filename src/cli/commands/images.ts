/** images, load, save, import, tag, rmi, history, image prune, image inspect, pull, push, build. */
import { createReadStream, createWriteStream, renameSync, unlinkSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { EngineClient, JsonMessage } from '../../client/index.js';
import { StatusError, type Command, type Ctx } from '../command.js';
import { filtersFromFlags, type FlagSpec } from '../flags.js';
import { renderList, resolveFormat } from '../format/formatter.js';
import { humanDuration, humanSize, humanSizeWithPrecision } from '../format/humanize.js';
import { IMAGE_HEADERS, imageRows } from '../list-contexts.js';
import { confirm, ellipsis, forEachTarget, goTimeString, truncateId } from '../shared.js';
import { inspectObjects, printPrune, resolveInspectFormat } from './containers.js';

const DEFAULT_IMAGES = 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
const DEFAULT_IMAGES_DIGESTS = 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';

const images: Command = {
  usage: 'images [OPTIONS] [REPOSITORY[:TAG]]',
  description: 'List images',
  flags: [
    { name: 'all', short: 'a', type: 'bool', description: 'Show all images (default hides intermediate images)' },
    { name: 'digests', type: 'bool', description: 'Show digests' },
    { name: 'filter', short: 'f', type: 'list', description: 'Filter output based on conditions provided' },
    { name: 'format', type: 'string', description: 'Format output using a custom template' },
    { name: 'no-trunc', type: 'bool', description: "Don't truncate output" },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Only show image IDs' },
  ],
  args: { max: 1 },
  async run(ctx, p) {
    const filters = filtersFromFlags(p.flags.filter as string[]);
    if (p.args[0]) (filters.reference ??= []).push(p.args[0]);
    const client = await ctx.client();
    const list = await client.listImages({ all: p.flags.all === true, filters });
    list.sort((a, b) => b.Created - a.Created);
    const trunc = p.flags['no-trunc'] !== true;
    const now = Date.now();
    if (p.flags.quiet) {
      // docker images -q prints each image ID once.
      const seen = new Set<string>();
      for (const img of list) { const id = trunc ? truncateId(img.Id) : img.Id; if (!seen.has(id)) { seen.add(id); ctx.line(id); } }
      return 0;
    }
    const format = resolveFormat(p.flags.format as string | undefined, p.flags.digests ? DEFAULT_IMAGES_DIGESTS : DEFAULT_IMAGES);
    const rows = list.flatMap((img) => imageRows(img, trunc, p.flags.digests === true, now));
    ctx.out(renderList(format, rows, IMAGE_HEADERS));
    return 0;
  },
};

/** A load's messages; quiet drops the progress, not what was loaded (as the docker CLI). */
async function printMessages(ctx: Ctx, client: EngineClient, res: NodeJS.ReadableStream & AsyncIterable<Buffer>, quiet = false): Promise<void> {
  for await (const m of client.messages(res as never)) {
    if (quiet && !m.stream) continue;
    if (m.stream) ctx.out(m.stream);
    else if (m.status) ctx.line(m.id ? `${m.id}: ${m.status}` : m.status);
  }
}

/** Docker's non-terminal rendering of a progress message: progress-bar updates are dropped. */
function printProgressLine(ctx: Ctx, m: JsonMessage): void {
  if (m.progress) return;
  if (m.stream) { ctx.out(m.stream); return; }
  if (m.status) ctx.line(m.id ? `${m.id}: ${m.status}` : m.status);
}

const load: Command = {
  usage: 'load [OPTIONS]',
  description: 'Load an image from a tar archive or STDIN',
  flags: [
    { name: 'input', short: 'i', type: 'string', description: 'Read from tar archive file, instead of STDIN' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress the load output' },
  ],
  args: { max: 0 },
  async run(ctx, p) {
    const input = p.flags.input as string | undefined;
    if (!input && ctx.io.stdin.isTTY) {
      throw new StatusError('requested load from stdin, but stdin is empty', 1);
    }
    const src = input ? createReadStream(input) : ctx.io.stdin;
    if (input) {
      await new Promise<void>((resolve, reject) => {
        (src as ReturnType<typeof createReadStream>).once('open', () => resolve())
          .once('error', () => reject(new StatusError(`open ${input}: no such file or directory`, 1)));
      });
    }
    const client = await ctx.client();
    const res = await client.loadImage(src);
    await printMessages(ctx, client, res as never, p.flags.quiet === true);
    return 0;
  },
};

const save: Command = {
  usage: 'save [OPTIONS] IMAGE [IMAGE...]',
  description: 'Save one or more images to a tar archive (streamed to STDOUT by default)',
  flags: [{ name: 'output', short: 'o', type: 'string', description: 'Write to a file, instead of STDOUT' }],
  args: { min: 1 },
  async run(ctx, p) {
    const output = p.flags.output as string | undefined;
    if (!output && (ctx.io.stdout as { isTTY?: boolean }).isTTY) {
      throw new StatusError('cowardly refusing to save to a terminal. Use the -o flag or redirect', 1);
    }
    const client = await ctx.client();
    const res = await client.saveImages(p.args);
    if (output) {
      // Write to a temporary file and rename, so a failed save leaves no partial archive.
      const tmp = join(dirname(output), `.${basename(output)}.tmp-${process.pid}`);
      try {
        await pipeline(res, createWriteStream(tmp));
        renameSync(tmp, output);
      } catch (err) {
        try { unlinkSync(tmp); } catch { /* none */ }
        throw err;
      }
    } else {
      await pipeline(res, ctx.io.stdout, { end: false });
    }
    return 0;
  },
};

const importCmd: Command = {
  usage: 'import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]',
  description: 'Import the contents from a tarball to create a filesystem image',
  flags: [
    { name: 'change', short: 'c', type: 'list', description: 'Apply Dockerfile instruction to the created image' },
    { name: 'message', short: 'm', type: 'string', description: 'Set commit message for imported image' },
    { name: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable' },
  ],
  args: { min: 1, max: 2 },
  async run(ctx, p) {
    const [file, ref] = p.args;
    if (/^https?:\/\//.test(file)) throw new StatusError('importing from a URL is not supported by berth; download the file first', 1);
    const src = file === '-' ? ctx.io.stdin : createReadStream(file);
    if (file !== '-') {
      await new Promise<void>((resolve, reject) => {
        (src as ReturnType<typeof createReadStream>).once('open', () => resolve()).once('error', () => reject(new StatusError(`open ${file}: no such file or directory`, 1)));
      });
    }
    let repo: string | undefined; let tag: string | undefined;
    if (ref) {
      const at = ref.lastIndexOf(':');
      if (at > ref.lastIndexOf('/')) { repo = ref.slice(0, at); tag = ref.slice(at + 1); } else repo = ref;
    }
    const client = await ctx.client();
    const res = await client.importImage(src, {
      repo, tag, message: p.flags.message as string | undefined, changes: p.flags.change as string[], platform: p.flags.platform as string | undefined,
    });
    for await (const m of client.messages(res)) if (m.status) ctx.line(m.status);
    return 0;
  },
};

const tag: Command = {
  usage: 'tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
  description: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
  flags: [],
  args: { exact: 2 },
  async run(ctx, p) {
    const [src, target] = p.args;
    let repo = target; let t: string | undefined;
    const at = target.lastIndexOf(':');
    if (at > target.lastIndexOf('/')) { repo = target.slice(0, at); t = target.slice(at + 1); }
    if (repo !== repo.toLowerCase()) throw new StatusError(`Error parsing reference: "${target}" is not a valid repository/tag: repository name must be lowercase`, 1);
    const client = await ctx.client();
    await client.tagImage(src, repo, t ?? 'latest');
    return 0;
  },
};

const rmi: Command = {
  usage: 'rmi [OPTIONS] IMAGE [IMAGE...]',
  description: 'Remove one or more images',
  flags: [
    { name: 'force', short: 'f', type: 'bool', description: 'Force removal of the image' },
    { name: 'no-prune', type: 'bool', description: 'Do not delete untagged parents' },
  ],
  args: { min: 1 },
  async run(ctx, p) {
    const client = await ctx.client();
    return forEachTarget(ctx, p.args, async (name) => {
      const items = await client.removeImage(name, { force: p.flags.force === true, noprune: p.flags['no-prune'] === true });
      for (const i of items ?? []) {
        if (i.Untagged) ctx.line(`Untagged: ${i.Untagged}`);
        if (i.Deleted) ctx.line(`Deleted: ${i.Deleted}`);
      }
      return undefined;
    });
  },
};

const history: Command = {
  usage: 'history [OPTIONS] IMAGE',
  description: 'Show the history of an image',
  flags: [
    { name: 'format', type: 'string', description: 'Format output using a custom template' },
    { name: 'human', short: 'H', type: 'bool', default: true, description: 'Print sizes and dates in human readable format' },
    { name: 'no-trunc', type: 'bool', description: "Don't truncate output" },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Only show image IDs' },
  ],
  args: { exact: 1 },
  async run(ctx, p) {
    const client = await ctx.client();
    const items = await client.imageHistory(p.args[0]);
    const trunc = p.flags['no-trunc'] !== true;
    const human = p.flags.human !== false;
    const now = Date.now();
    const rows = items.map((h) => {
      const row = {
        ID: h.Id.startsWith('sha256:') ? (trunc ? truncateId(h.Id) : h.Id) : '<missing>',
        CreatedSince: human ? `${humanDuration(now - h.Created * 1000)} ago` : new Date(h.Created * 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
        CreatedAt: human ? goTimeString(new Date(h.Created * 1000)) : new Date(h.Created * 1000).toISOString(),
        CreatedBy: (() => { const c = h.CreatedBy.replace(/\t/g, ' '); return trunc ? ellipsis(c, 45) : c; })(),
        Size: human ? humanSizeWithPrecision(h.Size, 3) : String(h.Size),
        Comment: h.Comment,
      };
      return { ...row, toJSON: () => row };
    });
    const format = p.flags.quiet ? '{{.ID}}' : resolveFormat(p.flags.format as string | undefined, 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}');
    ctx.out(renderList(format, rows, { ID: 'IMAGE', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY', Size: 'SIZE', Comment: 'COMMENT' }));
    return 0;
  },
};

const imagePrune: Command = {
  usage: 'image prune [OPTIONS]',
  description: 'Remove unused images',
  flags: [
    { name: 'all', short: 'a', type: 'bool', description: 'Remove all unused images, not just dangling ones' },
    { name: 'filter', type: 'list', description: 'Provide filter values (e.g. "until=<timestamp>")' },
    { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
  ],
  args: { max: 0 },
  async run(ctx, p) {
    const all = p.flags.all === true;
    const warning = all
      ? 'WARNING! This will remove all images without at least one container associated to them.'
      : 'WARNING! This will remove all dangling images.';
    if (!p.flags.force && !await confirm(ctx, `${warning}\nAre you sure you want to continue?`)) return 0;
    const client = await ctx.client();
    const filters = filtersFromFlags(p.flags.filter as string[]);
    filters.dangling = [all ? 'false' : 'true'];
    const r = await client.pruneImages(filters);
    const lines = (r.ImagesDeleted ?? []).map((i) => i.Untagged ? `untagged: ${i.Untagged}` : `deleted: ${i.Deleted}`);
    printPrune(ctx, 'Deleted Images', lines, r.SpaceReclaimed);
    return 0;
  },
};

const imageInspect: Command = {
  usage: 'image inspect [OPTIONS] IMAGE [IMAGE...]',
  description: 'Display detailed information on one or more images',
  flags: [{ name: 'format', short: 'f', type: 'string', description: 'Format output using a custom template' }],
  args: { min: 1 },
  async run(ctx, p) { return inspectObjects(ctx, p.args, ['image'], resolveInspectFormat(p.flags.format as string | undefined)); },
};

const pull: Command = {
  usage: 'pull [OPTIONS] NAME[:TAG|@DIGEST]',
  description: 'Download an image from a registry',
  flags: [
    { name: 'all-tags', short: 'a', type: 'bool', description: 'Download all tagged images in the repository' },
    { name: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress verbose output' },
  ] satisfies FlagSpec[],
  args: { exact: 1 },
  async run(ctx, p) {
    const ref = p.args[0];
    const { normalizeImageRef } = await import('./run.js');
    const full = p.flags['all-tags'] ? ref : normalizeImageRef(ref);
    const client = await ctx.client();
    const at = full.includes('@') ? -1 : full.lastIndexOf(':');
    const { registryAuthHeader } = await import('../registry-auth.js');
    const { configDir } = await import('../../client/index.js');
    const registryAuth = registryAuthHeader(configDir(ctx.io.env, ctx.globals.config), full);
    const res = await client.pullImage(at > full.lastIndexOf('/') ? full.slice(0, at) : full, { tag: at > full.lastIndexOf('/') ? full.slice(at + 1) : undefined, platform: p.flags.platform as string | undefined, registryAuth });
    if (!ref.includes(':') && !ref.includes('@') && !p.flags['all-tags'] && !p.flags.quiet) ctx.line('Using default tag: latest');
    for await (const m of client.messages(res)) {
      if (p.flags.quiet) continue;
      printProgressLine(ctx, m);
    }
    // docker pull ends with the fully qualified reference.
    const { registryOf, DOCKER_HUB_SERVER } = await import('../registry-auth.js');
    ctx.line(registryOf(full) === DOCKER_HUB_SERVER ? `docker.io/${full.includes('/') ? full : `library/${full}`}` : full);
    return 0;
  },
};

const push: Command = {
  usage: 'push [OPTIONS] NAME[:TAG]',
  description: 'Upload an image to a registry',
  flags: [
    { name: 'all-tags', short: 'a', type: 'bool', description: 'Push all tags of an image to the repository' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress verbose output' },
  ],
  args: { exact: 1 },
  async run(ctx, p) {
    const ref = p.args[0];
    const client = await ctx.client();
    const at = ref.lastIndexOf(':');
    const hasTag = at > ref.lastIndexOf('/');
    if (!hasTag && !p.flags['all-tags'] && !p.flags.quiet) ctx.line('Using default tag: latest');
    const { registryAuthHeader } = await import('../registry-auth.js');
    const { configDir } = await import('../../client/index.js');
    const registryAuth = registryAuthHeader(configDir(ctx.io.env, ctx.globals.config), ref);
    const res = await client.pushImage(hasTag ? ref.slice(0, at) : ref, { tag: hasTag ? ref.slice(at + 1) : (p.flags['all-tags'] ? undefined : 'latest'), registryAuth });
    for await (const m of client.messages(res)) {
      if (p.flags.quiet) continue;
      printProgressLine(ctx, m);
    }
    return 0;
  },
};

const build: Command = {
  usage: 'build [OPTIONS] PATH | URL | -',
  description: 'Build an image from a Dockerfile',
  flags: [
    { name: 'tag', short: 't', type: 'list', description: 'Name and optionally a tag in the "name:tag" format' },
    { name: 'file', short: 'f', type: 'string', description: 'Name of the Dockerfile' },
    { name: 'build-arg', type: 'list', description: 'Set build-time variables' },
    { name: 'label', type: 'list', description: 'Set metadata for an image' },
    { name: 'no-cache', type: 'bool', description: 'Do not use cache when building the image' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress the build output and print image ID on success' },
    { name: 'target', type: 'string', description: 'Set the target build stage to build' },
    { name: 'pull', type: 'bool', description: 'Always attempt to pull a newer version of the image' },
    { name: 'rm', type: 'bool', default: true, description: 'Remove intermediate containers after a successful build' },
    { name: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable' },
  ],
  args: { exact: 1 },
  async run(ctx, p) {
    const { buildContextTar } = await import('../build-context.js');
    const client = await ctx.client();
    const { stream, dockerfile } = await buildContextTar(p.args[0], p.flags.file as string | undefined, ctx);
    const buildargs: Record<string, string> = {};
    for (const a of p.flags['build-arg'] as string[]) {
      const i = a.indexOf('=');
      if (i < 0) { const v = ctx.io.env[a]; if (v !== undefined) buildargs[a] = v; } else buildargs[a.slice(0, i)] = a.slice(i + 1);
    }
    const labels: Record<string, string> = {};
    for (const l of p.flags.label as string[]) { const i = l.indexOf('='); labels[i < 0 ? l : l.slice(0, i)] = i < 0 ? '' : l.slice(i + 1); }
    // The docker CLI's legacy-builder line for the context it sent (printed once it is all sent).
    let sent = 0;
    const counted = new Transform({ transform(chunk: Buffer, _enc, done) { sent += chunk.length; done(null, chunk); } });
    const uploaded = new Promise<void>((resolve) => { counted.once('finish', resolve); counted.once('close', resolve); });
    (stream as NodeJS.ReadableStream).pipe(counted);
    const res = await client.buildImage(counted, {
      t: p.flags.tag as string[], dockerfile, buildargs: Object.keys(buildargs).length ? buildargs : undefined,
      labels: Object.keys(labels).length ? labels : undefined, nocache: p.flags['no-cache'] === true || undefined,
      q: p.flags.quiet === true || undefined, target: p.flags.target as string | undefined, pull: p.flags.pull === true || undefined,
      rm: p.flags.rm !== false, platform: p.flags.platform as string | undefined,
    });
    let imageId = '';
    let quietOut = '';
    let said = false;
    for await (const m of client.messages(res)) {
      if (!said && !p.flags.quiet) { said = true; await uploaded; ctx.out(`Sending build context to Docker daemon  ${humanSize(sent)}\r\r\n`); }   // the docker CLI's bytes, carriage returns and all
      if (m.aux && typeof m.aux.ID === 'string') imageId = m.aux.ID;
      if (p.flags.quiet) { if (m.stream) quietOut += m.stream; continue; }
      if (m.stream) ctx.out(m.stream);
      else if (m.status) ctx.line(m.id ? `${m.id}: ${m.status}` : m.status);
    }
    // Quiet builds print what the daemon streamed (the image ID), as docker does.
    if (p.flags.quiet) ctx.out(quietOut || (imageId ? `${imageId}\n` : ''));
    return 0;
  },
};

export const commands: Record<string, Command> = {
  images, load, save, import: importCmd, tag, rmi, history, 'image prune': imagePrune, 'image inspect': imageInspect, pull, push, build,
};
