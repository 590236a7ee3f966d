/**
 * The build context: the request body (a tar, maybe gzip) unpacked into a directory in one pass,
 * hashing every regular file on the way, so the cache check of a COPY does not read the files again.
 * Entry names are cleaned and resolved inside the directory: nothing lands outside it.
 */
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, linkSync, lstatSync, mkdirSync, openSync, rmSync, symlinkSync, utimesSync, writeSync, lutimesSync } from 'node:fs';
import { dirname } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import tar from 'tar-stream';
import { InvalidParameterError } from '../errors/index.js';
import { decompressed } from '../image/index.js';
import { cleanRelative, resolveInRoot } from './scoped-path.js';

/** sha256 (hex) of each regular file's content by host path, with the size it had. */
export type ContentDigests = Map<string, { size: number; digest: string }>;

/**
 * The docker CLI's `-f -` context (the Dockerfile added to the directory's tar) ends right after the
 * last file's data, without block padding or the end-of-archive blocks; finish it so it reads.
 */
function paddedToEnd(): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) { total += chunk.length; cb(null, chunk); },
    flush(cb) { cb(null, Buffer.alloc((512 - (total % 512)) % 512 + 1024)); },
  });
}

/** Unpacks a context tar into `dir` (which must exist); returns the file digests. */
export async function extractContext(body: NodeJS.ReadableStream, dir: string): Promise<ContentDigests> {
  const digests: ContentDigests = new Map();
  const dirTimes: [string, Date][] = [];
  const input = (await decompressed(body)).pipe(paddedToEnd());
  const extract = tar.extract();
  // Event handlers with synchronous writes: several times faster than async iteration here.
  const onEntry = (h: tar.Headers, stream: NodeJS.ReadableStream, next: (err?: unknown) => void): void => {
    const rel = cleanRelative(h.name);
    const skip = () => { stream.on('end', () => next()); stream.resume(); };
    if (rel === '.') return skip();
    if (rel === '..' || rel.startsWith('../')) throw new InvalidParameterError(`invalid context entry: ${h.name}`);
    const path = resolveInRoot(dir, rel, false);
    mkdirSync(dirname(path), { recursive: true });
    const mode = (h.mode ?? 0o644) & 0o7777;
    const mtime = h.mtime ?? new Date(0);
    switch (h.type) {
      case 'file':
      case 'contiguous-file': {
        rmSync(path, { force: true, recursive: true });
        const fd = openSync(path, 'w', mode);
        const hash = createHash('sha256');
        let size = 0;
        let failed = false;
        stream.on('data', (chunk: Buffer) => {
          if (failed) return;
          try {
            hash.update(chunk);
            let off = 0;
            while (off < chunk.length) off += writeSync(fd, chunk, off);
            size += chunk.length;
          } catch (e) { failed = true; closeSync(fd); extract.destroy(e as Error); }
        });
        stream.on('end', () => {
          if (failed) return;
          try {
            closeSync(fd);
            chmodSync(path, mode);
            utimesSync(path, mtime, mtime);
            digests.set(path, { size, digest: hash.digest('hex') });
            next();
          } catch (e) { next(e); }
        });
        return;
      }
      case 'directory':
        mkdirSync(path, { recursive: true });
        chmodSync(path, mode);
        dirTimes.push([path, mtime]);
        break;
      case 'symlink':
        rmSync(path, { force: true, recursive: true });
        symlinkSync(h.linkname ?? '', path);
        lutimesSync(path, mtime, mtime);
        break;
      case 'link': {
        const target = resolveInRoot(dir, cleanRelative(h.linkname ?? ''), false);
        rmSync(path, { force: true, recursive: true });
        linkSync(target, path);
        const known = digests.get(target);
        if (known) digests.set(path, known);
        break;
      }
      default:
        break;   // devices, fifos: nothing a build copies
    }
    skip();
  };
  await new Promise<void>((resolve, reject) => {
    extract.on('entry', (h, stream, next) => {
      stream.on('error', () => undefined);   // reported once, by the extractor
      try { onEntry(h, stream, next); } catch (e) { extract.destroy(e as Error); }
    });
    extract.on('finish', () => resolve());
    extract.on('error', (e: Error) => reject(e));
    input.on('error', (e) => extract.destroy(e));
    (input as Readable).pipe(extract as unknown as NodeJS.WritableStream);
  }).catch((e: unknown) => {
    (input as Readable).destroy();
    if (e instanceof InvalidParameterError) throw e;
    throw new InvalidParameterError(`failed to read the build context: ${(e as Error).message}`);
  });
  // directory times last: creating their children changed them
  for (const [p, t] of dirTimes.reverse()) { try { if (lstatSync(p).isDirectory()) utimesSync(p, t, t); } catch { /* gone */ } }
  return digests;
}
