import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDotEnv } from '../../src/compose/index.js';

test('.env: plain, export prefix, comments, yaml-style separator', () => {
  const env = parseDotEnv(`
# a comment
A=1
export B=two
C: three
  D = spaced   # trailing comment
E=has#hash
F=
`);
  assert.deepEqual(env, { A: '1', B: 'two', C: 'three', D: 'spaced', E: 'has#hash', F: '' });
});

test('.env: single quotes are literal, double quotes expand escapes and variables, multi-line', () => {
  const env = parseDotEnv(`
BASE=/srv
S='literal $BASE \\n # not a comment'
D="path=\${BASE}/app\\nnext" # comment
M="line1
line2"
Q="say \\"hi\\""
DOLLAR="cost \\$5"
`);
  assert.equal(env.S, 'literal $BASE \\n # not a comment');
  assert.equal(env.D, 'path=/srv/app\nnext');
  assert.equal(env.M, 'line1\nline2');
  assert.equal(env.Q, 'say "hi"');
  assert.equal(env.DOLLAR, 'cost $5');
});

test('.env: interpolation uses earlier entries and the environment, with defaults', () => {
  const env = parseDotEnv('HOST=db\nURL=postgres://${HOST}:${PORT:-5432}/${NAME}\n', (k) => ({ NAME: 'app' })[k]);
  assert.equal(env.URL, 'postgres://db:5432/app');
});

test('.env: the process environment wins over the file; a bare KEY inherits from it', () => {
  const lookup = (k: string): string | undefined => ({ A: 'from-shell', INHERIT: 'yes' })[k];
  const env = parseDotEnv('A=from-file\nINHERIT\nMISSING\n', lookup);
  assert.deepEqual(env, { A: 'from-shell', INHERIT: 'yes' });
  const own = parseDotEnv('A=from-file\n', lookup, 'svc.env', { environmentWins: false });
  assert.equal(own.A, 'from-file');
});

test('.env: errors name the file and line', () => {
  assert.throws(() => parseDotEnv('GOOD=1\nBAD KEY=2\n', undefined, 'x.env'), /x\.env:2: key cannot contain a space/);
  assert.throws(() => parseDotEnv('A="unterminated\n', undefined, 'x.env'), /unterminated quoted value/);
  assert.throws(() => parseDotEnv('A=${REQ:?set it}\n', undefined, 'x.env'), /x\.env:1: required variable REQ is missing a value: set it/);
});
