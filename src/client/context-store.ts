/**
 * The docker CLI's context store, so a context made by either CLI works in both:
 *   <config>/contexts/meta/<sha256(name)>/meta.json  {"Name","Metadata","Endpoints":{"docker":{"Host","SkipTLSVerify"}}}
 *   <config>/contexts/tls/<sha256(name)>/docker/{ca,cert,key}.pem
 * and "currentContext" in <config>/config.json. The config dir is --config, DOCKER_CONFIG or ~/.docker.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface DockerEndpointMeta { Host?: string; SkipTLSVerify?: boolean }
export interface ContextMeta {
  Name: string;
  Metadata: { Description?: string; [k: string]: unknown };
  Endpoints: { docker?: DockerEndpointMeta; [k: string]: unknown };
}
export interface ContextTls { ca?: Buffer; cert?: Buffer; key?: Buffer }

export function configDir(env: NodeJS.ProcessEnv, override?: string): string {
  return override ?? (env.DOCKER_CONFIG || join(homedir(), '.docker'));
}

const digest = (name: string): string => createHash('sha256').update(name).digest('hex');

function writeAtomic(path: string, data: string | Buffer, mode = 0o644): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, path);
}

export class ContextStore {
  constructor(readonly dir: string) {}

  private metaDir(name: string): string { return join(this.dir, 'contexts', 'meta', digest(name)); }
  private tlsDir(name: string): string { return join(this.dir, 'contexts', 'tls', digest(name), 'docker'); }

  list(): ContextMeta[] {
    const base = join(this.dir, 'contexts', 'meta');
    let names: string[] = [];
    try { names = readdirSync(base); } catch { return []; }
    const out: ContextMeta[] = [];
    for (const d of names) {
      try { out.push(JSON.parse(readFileSync(join(base, d, 'meta.json'), 'utf8')) as ContextMeta); } catch { /* skip broken */ }
    }
    return out.sort((a, b) => a.Name.localeCompare(b.Name));
  }

  get(name: string): ContextMeta | undefined {
    try { return JSON.parse(readFileSync(join(this.metaDir(name), 'meta.json'), 'utf8')) as ContextMeta; } catch { return undefined; }
  }

  tls(name: string): ContextTls | undefined {
    const dir = this.tlsDir(name);
    if (!existsSync(dir)) return undefined;
    const read = (f: string): Buffer | undefined => { try { return readFileSync(join(dir, f)); } catch { return undefined; } };
    return { ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem') };
  }

  tlsPath(name: string): string { return this.tlsDir(name); }

  save(meta: ContextMeta, tls?: ContextTls): void {
    const md = this.metaDir(meta.Name);
    mkdirSync(md, { recursive: true });
    writeAtomic(join(md, 'meta.json'), JSON.stringify(meta));
    if (tls && (tls.ca || tls.cert || tls.key)) {
      const td = this.tlsDir(meta.Name);
      mkdirSync(td, { recursive: true, mode: 0o700 });
      if (tls.ca) writeAtomic(join(td, 'ca.pem'), tls.ca);
      if (tls.cert) writeAtomic(join(td, 'cert.pem'), tls.cert);
      if (tls.key) writeAtomic(join(td, 'key.pem'), tls.key, 0o600);
    }
  }

  remove(name: string): void {
    rmSync(this.metaDir(name), { recursive: true, force: true });
    rmSync(join(this.dir, 'contexts', 'tls', digest(name)), { recursive: true, force: true });
  }

  private readConfig(): Record<string, unknown> {
    try { return JSON.parse(readFileSync(join(this.dir, 'config.json'), 'utf8')) as Record<string, unknown>; } catch { return {}; }
  }

  current(): string | undefined {
    const c = this.readConfig().currentContext;
    return typeof c === 'string' && c ? c : undefined;
  }

  setCurrent(name: string): void {
    const cfg = this.readConfig();
    if (name === 'default') delete cfg.currentContext; else cfg.currentContext = name;
    mkdirSync(this.dir, { recursive: true });
    writeAtomic(join(this.dir, 'config.json'), JSON.stringify(cfg, null, '\t'), 0o600);
  }
}
