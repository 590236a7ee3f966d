/**
 * berth compose's load cache (src/compose/load-cache.ts): a second run over the same files gives the same result
 * without loading the YAML parser or the schema validator; errors are never cached; BERTH_COMPOSE_CACHE=0 and a
 * missing HOME turn it off.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoadCache } from '../../src/compose/load-cache.js';
import { tempProject } from '../fixtures/compose/helpers.js';

const indexUrl = new URL('../../src/compose/index.js', import.meta.url).href;

/** `berth compose <args>` in a fresh process; reports which heavy modules it loaded. */
function run(args: string[], cwd: string, env: Record<string, string>): { code: number; stdout: string; stderr: string; loaded: string[] } {
  const script = `
    import { createRequire } from 'node:module';
    const { runCompose } = await import(${JSON.stringify(indexUrl)});
    let stdout = '', stderr = '';
    const code = await runCompose(process.argv.slice(1), {
      stdout: { write: (s) => { stdout += s; } }, stderr: { write: (s) => { stderr += s; } },
      env: ${JSON.stringify(env)}, cwd: ${JSON.stringify(cwd)},
    });
    const loaded = Object.keys(createRequire(import.meta.url).cache)
      .filter((f) => /node_modules\\/(yaml|ajv)\\//.test(f) || f.endsWith('compose-spec-validator.cjs'))
      .map((f) => f.includes('/yaml/') ? 'yaml' : 'validator');
    process.stdout.write(JSON.stringify({ code, stdout, stderr, loaded: [...new Set(loaded)].sort() }));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, '--', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { code: number; stdout: string; stderr: string; loaded: string[] };
}

const entries = (dir: string): number => {
  try { return readdirSync(dir, { recursive: true }).filter((f) => /[0-9a-f]{64}$/.test(String(f))).length; } catch { return 0; }
};

test('a warm run gives the same project without loading the YAML parser or the schema validator', () => {
  const p = tempProject({ 'compose.yaml': 'services:\n  web:\n    image: "busybox:${TAG:-1}"\n    command: ["sh", "-c", "echo hi"]\n  db:\n    image: busybox\n    depends_on: [web]\n' });
  const cache = mkdtempSync(join(tmpdir(), 'berth-cache-test-'));
  try {
    const env = { HOME: '/nonexistent', XDG_CACHE_HOME: cache };
    const cold = run(['config', '--hash', '*'], p.dir, env);
    assert.equal(cold.code, 0, cold.stderr);
    assert.deepEqual(cold.loaded, ['validator', 'yaml']);
    assert.ok(entries(join(cache, 'berth', 'compose')) >= 2, 'the parse and the schema verdict were stored');
    const warm = run(['config', '--hash', '*'], p.dir, env);
    assert.deepEqual([warm.code, warm.stdout, warm.stderr], [0, cold.stdout, cold.stderr]);
    assert.deepEqual(warm.loaded, []);

    // another value of TAG: same parse, but a new model to validate
    const other = run(['config', '--images'], p.dir, { ...env, TAG: '2' });
    assert.equal(other.stdout, 'busybox:2\nbusybox\n');
    assert.deepEqual(other.loaded, ['validator']);

    // an edited file is parsed again, and an invalid model is reported every time, never cached
    writeFileSync(join(p.dir, 'compose.yaml'), 'services:\n  web:\n    image: busybox\n    ports: [{target: 80, bogus: 1}]\n');
    for (let i = 0; i < 2; i++) {
      const bad = run(['config', '-q'], p.dir, env);
      assert.equal(bad.code, 15);
      assert.match(bad.stderr, /validating .*compose\.yaml: services\.web\.ports\.0 Additional property bogus is not allowed/);
    }
  } finally {
    rmSync(cache, { recursive: true, force: true });
    p.cleanup();
  }
});

test('BERTH_COMPOSE_CACHE=0, or no HOME and no XDG_CACHE_HOME: no cache', () => {
  assert.equal(LoadCache.forEnv({ HOME: '/h', BERTH_COMPOSE_CACHE: '0' }), undefined);
  assert.equal(LoadCache.forEnv({}), undefined);
  assert.equal(LoadCache.forEnv({ HOME: '/h' })?.dir, '/h/.cache/berth/compose');
  assert.equal(LoadCache.forEnv({ HOME: '/h', XDG_CACHE_HOME: '/x' })?.dir, '/x/berth/compose');
  const p = tempProject({ 'compose.yaml': 'services:\n  web:\n    image: busybox\n' });
  const home = mkdtempSync(join(tmpdir(), 'berth-cache-home-'));
  try {
    const r = run(['config', '--services'], p.dir, { HOME: home, BERTH_COMPOSE_CACHE: '0' });
    assert.equal(r.stdout, 'web\n');
    assert.equal(entries(home), 0);
  } finally {
    rmSync(home, { recursive: true, force: true });
    p.cleanup();
  }
});
