/**
 * berth compose's project cache (src/compose/project-cache.ts): a warm run gets the loaded project back (with its
 * warnings) and loads none of the loader's modules; any change a load would see — a compose file's text, a new
 * compose.override.yaml or .env, an env_file, an extends file, an environment variable, other options — makes it
 * load again; failures and `-f -` are never cached.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoadCache } from '../../src/compose/load-cache.js';
import { loadProject } from '../../src/compose/loader.js';
import { cachedProject, loadAndCache } from '../../src/compose/project-cache.js';
import type { ProjectOptions } from '../../src/compose/types.js';
import { tempProject } from '../fixtures/compose/helpers.js';

function withCache(fn: (cache: LoadCache) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'berth-project-cache-'));
  try { fn(new LoadCache(dir)); } finally { rmSync(dir, { recursive: true, force: true }); }
}

/** Options for a project in `dir` with a fixed environment; warnings collected in `warnings`. */
function options(dir: string, env: Record<string, string> = {}, extra: Partial<ProjectOptions> = {}): ProjectOptions & { warnings: string[] } {
  const warnings: string[] = [];
  return { cwd: dir, env: { HOME: '/root', ...env }, warn: (m) => warnings.push(m), warnings, ...extra };
}

test('a second load with the same inputs is answered from the cache, warnings included', () => {
  const p = tempProject({
    'compose.yaml': 'version: "3"\nservices:\n  web:\n    image: "busybox:${TAG:-1}"\n    env_file: [web.env]\n    environment: [FROM_ENV]\n',
    'web.env': 'A=1\n',
  });
  withCache((cache) => {
    const cold = options(p.dir, { FROM_ENV: 'x' });
    const loaded = loadAndCache(cache, cold, loadProject);
    assert.equal(loaded.services.web.image, 'busybox:1');
    assert.deepEqual(loaded.services.web.environment, { A: '1', FROM_ENV: 'x' });
    assert.equal(cold.warnings.length, 1);
    assert.match(cold.warnings[0], /the attribute `version` is obsolete/);

    const warm = options(p.dir, { FROM_ENV: 'x' });
    const hit = cachedProject(cache, warm);
    assert.deepEqual(hit, loaded);
    assert.deepEqual(warm.warnings, cold.warnings);

    // the entry holds the environment: readable by its owner only
    const files = readdirSync(cache.dir, { recursive: true }).map(String).filter((f) => /[0-9a-f]{64}$/.test(f));
    assert.ok(files.length > 0);
    for (const f of files) assert.equal(statSync(join(cache.dir, f)).mode & 0o077, 0, f);
    for (const d of readdirSync(cache.dir)) assert.equal(statSync(join(cache.dir, d)).mode & 0o077, 0, d);
  });
  p.cleanup();
});

test('any change a load would see is a miss: files, new files, environment, options', () => {
  const p = tempProject({
    'compose.yaml': 'services:\n  web:\n    image: busybox\n    env_file: [{path: web.env, required: false}]\n  base:\n    extends: {file: base.yaml, service: b}\n',
    'base.yaml': 'services:\n  b:\n    image: busybox\n    command: ["true"]\n',
  });
  withCache((cache) => {
    const fresh = (env: Record<string, string> = {}, extra: Partial<ProjectOptions> = {}) => loadAndCache(cache, options(p.dir, env, extra), loadProject);
    const hit = (env: Record<string, string> = {}, extra: Partial<ProjectOptions> = {}) => cachedProject(cache, options(p.dir, env, extra));
    fresh();
    assert.ok(hit(), 'cached');

    const changes: Array<[string, () => void]> = [
      ['the compose file', () => writeFileSync(join(p.dir, 'compose.yaml'), 'services:\n  web:\n    image: busybox:2\n    env_file: [{path: web.env, required: false}]\n  base:\n    extends: {file: base.yaml, service: b}\n')],
      ['an optional env_file appearing', () => writeFileSync(join(p.dir, 'web.env'), 'A=1\n')],
      ['the env_file', () => writeFileSync(join(p.dir, 'web.env'), 'A=2\n')],
      ['a .env appearing', () => writeFileSync(join(p.dir, '.env'), 'X=1\n')],
      ['an extends file', () => writeFileSync(join(p.dir, 'base.yaml'), 'services:\n  b:\n    image: busybox\n    command: ["false"]\n')],
      ['an override file appearing', () => writeFileSync(join(p.dir, 'compose.override.yaml'), 'services:\n  web:\n    command: ["x"]\n')],
    ];
    for (const [what, change] of changes) {
      change();
      assert.equal(hit(), undefined, `${what} changed: a miss`);
      const again = fresh();
      assert.deepEqual(hit(), again, `${what}: cached again`);
    }
    const last = hit();
    assert.ok(last);
    assert.equal(last.services.web.image, 'busybox:2');
    assert.deepEqual(last.services.web.environment, { A: '2' });
    assert.deepEqual(last.services.web.command, ['x']);
    assert.deepEqual(last.services.base.command, ['false']);

    assert.equal(hit({ SOME_VAR: '1' }), undefined, 'another environment: a miss');
    assert.equal(hit({}, { projectName: 'other' }), undefined, 'other options use another slot');
    fresh({}, { projectName: 'other' });
    assert.equal(hit({}, { projectName: 'other' })?.name, 'other');
    assert.equal(hit({ SOME_VAR: '1' }), undefined);
  });
  p.cleanup();
});

test('failed loads and stdin are never cached', () => {
  const p = tempProject({ 'compose.yaml': 'services:\n  web:\n    image: busybox\n    depends_on: [nope]\n' });
  withCache((cache) => {
    assert.throws(() => loadAndCache(cache, options(p.dir), loadProject), /depends on undefined service "nope"|nope/);
    assert.equal(cachedProject(cache, options(p.dir)), undefined);
    const stdin = { files: ['-'], stdin: 'services:\n  a:\n    image: busybox\n' };
    assert.equal(loadAndCache(cache, options(p.dir, {}, stdin), loadProject).services.a.image, 'busybox');
    assert.equal(cachedProject(cache, options(p.dir, {}, stdin)), undefined);
  });
  p.cleanup();
});

const cliUrl = new URL('../../src/compose/cli.js', import.meta.url).href;

/** `berth compose <args>` in a fresh process; reports which of the loader's modules it loaded. */
function run(args: string[], cwd: string, env: Record<string, string>): { code: number; stdout: string; stderr: string; loader: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'berth-project-cache-run-'));
  try {
    // a resolve hook writes down every module the run loads
    const record = join(dir, 'loaded.txt');
    writeFileSync(join(dir, 'hooks.mjs'), `import { appendFileSync } from 'node:fs';
      export async function resolve(s, c, next) { const r = await next(s, c); appendFileSync(${JSON.stringify(record)}, r.url + '\\n'); return r; }`);
    writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module'; register(${JSON.stringify(new URL(`file://${join(dir, 'hooks.mjs')}`).href)});`);
    writeFileSync(record, '');
    const script = `
      const { runCompose } = await import(${JSON.stringify(cliUrl)});
      let stdout = '', stderr = '';
      const code = await runCompose(process.argv.slice(1), {
        stdout: { write: (s) => { stdout += s; } }, stderr: { write: (s) => { stderr += s; } },
        env: ${JSON.stringify(env)}, cwd: ${JSON.stringify(cwd)},
      });
      process.stdout.write(JSON.stringify({ code, stdout, stderr }));
      process.exit(0);
    `;
    const r = spawnSync(process.execPath, ['--import', join(dir, 'register.mjs'), '--input-type=module', '-e', script, '--', ...args], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const loaded = spawnSync('cat', [record], { encoding: 'utf8' }).stdout.split('\n');
    const loader = [...new Set(loaded.filter((u) => /\/compose\/(loader|normalize|canonical|interpolation|merge|discovery|dotenv|validate-schema)\.js$/.test(u))
      .map((u) => u.split('/').pop()!))].sort();
    return { ...(JSON.parse(r.stdout) as { code: number; stdout: string; stderr: string }), loader };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a warm runtime command loads none of the loader modules; a broken file is still reported before the daemon', () => {
  const p = tempProject({ 'compose.yaml': 'version: "3"\nservices:\n  web:\n    image: busybox\n' });
  const cache = mkdtempSync(join(tmpdir(), 'berth-project-cache-xdg-'));
  try {
    // no daemon at this socket: `ps` loads the project, then fails to connect
    const env = { HOME: '/nonexistent', XDG_CACHE_HOME: cache, DOCKER_HOST: `unix://${join(cache, 'no-daemon.sock')}` };
    const cold = run(['ps'], p.dir, env);
    assert.equal(cold.code, 1);
    assert.match(cold.stderr, /the attribute `version` is obsolete/);
    assert.match(cold.stderr, /Cannot connect to the Docker daemon|no-daemon\.sock/);
    assert.ok(cold.loader.includes('loader.js') && cold.loader.includes('normalize.js'), cold.loader.join());
    const warm = run(['ps'], p.dir, env);
    assert.deepEqual([warm.code, warm.stdout, warm.stderr], [cold.code, cold.stdout, cold.stderr]);
    assert.deepEqual(warm.loader, []);

    // the project's error comes first, as before the ping was sent early
    writeFileSync(join(p.dir, 'compose.yaml'), 'services:\n  web:\n    image: busybox\n    depends_on: [nope]\n');
    const bad = run(['ps'], p.dir, env);
    assert.equal(bad.code, 15);
    assert.match(bad.stderr, /nope/);
    assert.doesNotMatch(bad.stderr, /Cannot connect|no-daemon/);
  } finally {
    rmSync(cache, { recursive: true, force: true });
    p.cleanup();
  }
});
