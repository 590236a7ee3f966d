import { test } from 'node:test';
import assert from 'node:assert/strict';
import { interpolateTree, substitute } from '../../src/compose/index.js';

const vars: Record<string, string> = { SET: 'value', EMPTY: '', OTHER: 'other' };
const lookup = (k: string): string | undefined => vars[k];

test('interpolation table (as the Compose specification defines each form)', () => {
  const table: Array<[string, string]> = [
    ['$SET', 'value'],
    ['${SET}', 'value'],
    ['pre-${SET}-post', 'pre-value-post'],
    ['$SET.txt', 'value.txt'],
    ['${UNSET:-default}', 'default'],
    ['${EMPTY:-default}', 'default'],
    ['${SET:-default}', 'value'],
    ['${UNSET-default}', 'default'],
    ['${EMPTY-default}', ''],
    ['${SET:+replacement}', 'replacement'],
    ['${EMPTY:+replacement}', ''],
    ['${UNSET:+replacement}', ''],
    ['${EMPTY+replacement}', 'replacement'],
    ['${UNSET+replacement}', ''],
    ['${SET:?must be set}', 'value'],
    ['${EMPTY?may be empty}', ''],
    ['$$SET', '$SET'],
    ['$${SET}', '${SET}'],
    ['a $$ b', 'a $ b'],
    ['${UNSET:-${OTHER}}', 'other'],
    ['${UNSET:-${ALSO_UNSET:-deep}}', 'deep'],
    ['${UNSET:-a}${SET}', 'avalue'],
    ['${UNSET:-{x}}', '{x}'],
    ['${UNSET}', ''],
    ['$UNSET', ''],
  ];
  for (const [input, expected] of table) assert.equal(substitute(input, lookup), expected, input);
});

test('required variables fail with docker compose\'s message', () => {
  assert.throws(() => substitute('${UNSET:?you must set UNSET}', lookup), { message: 'required variable UNSET is missing a value: you must set UNSET' });
  assert.throws(() => substitute('${EMPTY:?not empty please}', lookup), { message: 'required variable EMPTY is missing a value: not empty please' });
  assert.throws(() => substitute('${UNSET?}', lookup), { message: 'required variable UNSET is missing a value' });
  assert.throws(() => substitute('${UNSET:?${OTHER} needed}', lookup), /missing a value: other needed/);
});

test('invalid templates are errors', () => {
  for (const bad of ['${', '${}', '${1A}', '$ x', 'end$', '${SET:}', '${SET!x}']) {
    assert.throws(() => substitute(bad, lookup), /Invalid template/, bad);
  }
});

test('unset variables without default warn once and become empty', () => {
  const warnings: string[] = [];
  const out = interpolateTree({ services: { a: { image: '${IMG}:${IMG}', command: 'echo $IMG' } } }, { lookup, warn: (m) => warnings.push(m) });
  assert.deepEqual(out, { services: { a: { image: ':', command: 'echo ' } } });
  assert.deepEqual(warnings, ['The "IMG" variable is not set. Defaulting to a blank string.']);
});

test('tree interpolation names the key in errors and casts typed fields', () => {
  assert.throws(
    () => interpolateTree({ services: { web: { image: '${TAG:?tag needed}' } } }, { lookup }),
    { message: 'error while interpolating services.web.image: required variable TAG is missing a value: tag needed' },
  );
  const env: Record<string, string> = { N: '3', T: 'yes', C: '0.5', P: '8080' };
  const out = interpolateTree({
    services: { w: { scale: '${N}', tty: '${T}', cpus: '${C}', ports: [{ target: '${P}' }], ulimits: { nofile: '${N}' }, image: '${N}' } },
    networks: { n: { internal: 'false' } },
  }, { lookup: (k) => env[k] }) as any;
  assert.equal(out.services.w.scale, 3);
  assert.equal(out.services.w.tty, true);
  assert.equal(out.services.w.cpus, 0.5);
  assert.equal(out.services.w.ports[0].target, 8080);
  assert.equal(out.services.w.ulimits.nofile, 3);
  assert.equal(out.services.w.image, '3', 'image stays a string');
  assert.equal(out.networks.n.internal, false);
  assert.throws(() => interpolateTree({ services: { w: { tty: 'maybe' } } }, { lookup }), /services\.w\.tty.*invalid boolean: maybe/);
});

test('keys are not interpolated', () => {
  assert.deepEqual(interpolateTree({ services: { '$SET': { image: 'x' } } }, { lookup }), { services: { '$SET': { image: 'x' } } });
});
