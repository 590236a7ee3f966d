/** context create, ls, use, inspect, rm, show — in the docker CLI's own store format. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseHost } from '../../client/index.js';
import { StatusError, type Command, type Ctx } from '../command.js';
import { configDir, ContextStore, type ContextMeta } from '../../client/index.js';
import { renderList, resolveFormat, renderEach } from '../format/formatter.js';
import { indentJson } from '../shared.js';
import { selectedContext } from '../connect.js';
import { DEFAULT_HOST } from '../../client/index.js';

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$/;

function store(ctx: Ctx): ContextStore { return new ContextStore(configDir(ctx.io.env, ctx.globals.config)); }

function defaultMeta(ctx: Ctx): ContextMeta {
  return {
    Name: 'default', Metadata: { Description: 'Current DOCKER_HOST based configuration' },
    Endpoints: { docker: { Host: ctx.globals.host ?? (ctx.io.env.DOCKER_HOST || DEFAULT_HOST), SkipTLSVerify: false } },
  };
}

const create: Command = {
  usage: 'context create [OPTIONS] CONTEXT',
  description: 'Create a context',
  flags: [
    { name: 'description', type: 'string', description: 'Description of the context' },
    { name: 'docker', type: 'string', description: 'set the docker endpoint' },
    { name: 'from', type: 'string', description: 'create context from a named context' },
  ],
  args: { exact: 1 },
  async run(ctx, p) {
    const name = p.args[0];
    if (name === 'default') throw new StatusError('"default" is a reserved context name', 1);
    if (!NAME_RE.test(name)) throw new StatusError(`context name "${name}" is invalid, names are validated against regexp "^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$"`, 1);
    const s = store(ctx);
    if (s.get(name)) throw new StatusError(`context "${name}" already exists`, 1);
    let host = ctx.io.env.DOCKER_HOST || DEFAULT_HOST;
    let skip = false;
    const tls: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
    const docker = p.flags.docker as string | undefined;
    if (docker !== undefined) {
      for (const part of docker.split(',').filter(Boolean)) {
        const i = part.indexOf('=');
        const k = i < 0 ? part : part.slice(0, i); const v = i < 0 ? '' : part.slice(i + 1);
        const read = (f: string): Buffer => {
          try { return readFileSync(resolve(ctx.io.cwd, f)); } catch { throw new StatusError(`unable to create docker endpoint config: open ${f}: no such file or directory`, 1); }
        };
        switch (k) {
          case 'host': host = v; break;
          case 'ca': tls.ca = read(v); break;
          case 'cert': tls.cert = read(v); break;
          case 'key': tls.key = read(v); break;
          case 'skip-tls-verify': skip = v === 'true'; break;
          case 'from': { const m = s.get(v); if (m?.Endpoints.docker?.Host) host = m.Endpoints.docker.Host; break; }
          default: throw new StatusError(`unable to create docker endpoint config: unrecognized config key: ${k}`, 1);
        }
      }
    } else if (p.flags.from) {
      const m = p.flags.from === 'default' ? defaultMeta(ctx) : s.get(p.flags.from as string);
      if (!m) throw new StatusError(`context "${p.flags.from}" does not exist`, 1);
      host = m.Endpoints.docker?.Host ?? host;
      Object.assign(tls, s.tls(p.flags.from as string) ?? {});
    }
    try { parseHost(host); } catch (e) { throw new StatusError(`unable to create docker endpoint config: ${(e as Error).message}`, 1); }
    s.save({ Name: name, Metadata: { Description: p.flags.description as string | undefined }, Endpoints: { docker: { Host: host, SkipTLSVerify: skip } } }, tls);
    ctx.line(name);
    ctx.err(`Successfully created context "${name}"\n`);
    return 0;
  },
};

const ls: Command = {
  usage: 'context ls [OPTIONS]',
  description: 'List contexts',
  flags: [{ name: 'format', type: 'string', description: 'Format output using a custom template' }, { name: 'quiet', short: 'q', type: 'bool', description: 'Only show context names' }],
  args: { max: 0 },
  async run(ctx, p) {
    const s = store(ctx);
    const current = selectedContext(ctx.globals, ctx.io.env);
    const all = [defaultMeta(ctx), ...s.list()];
    const rows = all.map((m) => {
      const row = {
        Current: m.Name === current, Description: m.Metadata?.Description ?? '', DockerEndpoint: m.Endpoints.docker?.Host ?? '',
        Error: '', Name: m.Name,
      };
      return { ...row, Name: m.Name + (m.Name === current && !p.flags.format ? ' *' : ''), toJSON: () => row };
    });
    const format = p.flags.quiet ? '{{.Name}}' : resolveFormat(p.flags.format as string | undefined, 'table {{.Name}}\t{{.Description}}\t{{.DockerEndpoint}}\t{{.Error}}');
    ctx.out(renderList(format, p.flags.quiet ? rows.map((r) => ({ ...r, Name: r.Name.replace(/ \*$/, '') })) : rows, { Name: 'NAME', Description: 'DESCRIPTION', DockerEndpoint: 'DOCKER ENDPOINT', Error: 'ERROR', Current: 'CURRENT' }));
    if (ctx.io.env.DOCKER_HOST) ctx.err('Warning: DOCKER_HOST environment variable overrides the active context. To use a context, either set the global --context flag, or unset DOCKER_HOST environment variable.\n');
    return 0;
  },
};

const use: Command = {
  usage: 'context use CONTEXT', description: 'Set the current docker context', flags: [], args: { exact: 1 },
  async run(ctx, p) {
    const s = store(ctx); const name = p.args[0];
    if (name !== 'default' && !s.get(name)) throw new StatusError(`context "${name}" does not exist`, 1);
    s.setCurrent(name);
    ctx.line(name);
    ctx.err(`Current context is now "${name}"\n`);
    return 0;
  },
};

const show: Command = {
  usage: 'context show', description: 'Print the name of the current context', flags: [], args: { max: 0 },
  async run(ctx) { ctx.line(selectedContext(ctx.globals, ctx.io.env)); return 0; },
};

const inspect: Command = {
  usage: 'context inspect [OPTIONS] [CONTEXT] [CONTEXT...]',
  description: 'Display detailed information on one or more contexts',
  flags: [{ name: 'format', short: 'f', type: 'string', description: 'Format output using a custom template' }],
  args: {},
  async run(ctx, p) {
    const s = store(ctx);
    const names = p.args.length ? p.args : [selectedContext(ctx.globals, ctx.io.env)];
    const out: unknown[] = [];
    for (const n of names) {
      const m = n === 'default' ? defaultMeta(ctx) : s.get(n);
      if (!m) throw new StatusError(`context "${n}" does not exist`, 1);
      const tls = n === 'default' ? undefined : s.tls(n);
      out.push({
        Name: m.Name, Metadata: m.Metadata, Endpoints: m.Endpoints,
        TLSMaterial: tls ? { docker: ['ca.pem', 'cert.pem', 'key.pem'].filter((f) => tls[f.replace('.pem', '') as 'ca' | 'cert' | 'key']) } : {},
        Storage: { MetadataPath: n === 'default' ? '<IN MEMORY>' : s.dir + '/contexts/meta', TLSPath: n === 'default' ? '<IN MEMORY>' : s.tlsPath(n) },
      });
    }
    if (p.flags.format) ctx.out(renderEach(p.flags.format as string, out)); else ctx.line(indentJson(out));
    return 0;
  },
};

const rm: Command = {
  usage: 'context rm CONTEXT [CONTEXT...]', description: 'Remove one or more contexts',
  flags: [{ name: 'force', short: 'f', type: 'bool', description: 'Force the removal of a context in use' }],
  args: { min: 1 },
  async run(ctx, p) {
    const s = store(ctx);
    const errors: string[] = [];
    for (const n of p.args) {
      if (n === 'default') { errors.push('default: context "default" cannot be removed'); continue; }
      if (!s.get(n)) { errors.push(`${n}: context "${n}" does not exist`); continue; }
      if (s.current() === n) { if (!p.flags.force) { errors.push(`${n}: context "${n}" is in use, set -f flag to force remove`); continue; } s.setCurrent('default'); }
      s.remove(n);
      ctx.line(n);
    }
    if (errors.length) throw new StatusError(`Error: failed to remove ${errors.length === 1 ? 'context' : 'contexts'}: ${errors.join('\n')}`, 1);
    return 0;
  },
};

export const commands: Record<string, Command> = {
  'context create': create, 'context ls': ls, 'context use': use, 'context show': show, 'context inspect': inspect, 'context rm': rm,
};
