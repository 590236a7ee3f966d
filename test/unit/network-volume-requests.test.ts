/** The JSON type checks of networks/create, connect, disconnect and volumes/create bodies, and the nesting limit of request bodies. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJson } from '../../src/api/router.js';
import { InvalidParameterError } from '../../src/errors/index.js';
import { validateNetworkConnect, validateNetworkCreate, validateNetworkDisconnect } from '../../src/network/requests.js';
import { validateVolumeCreate } from '../../src/volume/create-request.js';
import { badNetworkConnectBodies, badNetworkCreateBodies, badNetworkDisconnectBodies, badVolumeCreateBodies, type BadBody } from '../fixtures/requests/request-bodies.js';

const refuses = (validate: (b: unknown) => void, c: BadBody) =>
  assert.throws(() => validate(c.body), (e: unknown) => e instanceof InvalidParameterError && e.message === c.message ? true : assert.fail(`got ${String(e)}`));

describe('network and volume request types', () => {
  test('what the docker CLI and compose send passes', () => {
    validateNetworkCreate({
      Name: 'n1', Driver: 'bridge', Scope: '', EnableIPv6: null, IPAM: { Driver: 'default', Options: {}, Config: [{ Subnet: '10.9.0.0/24', Gateway: '10.9.0.1', AuxiliaryAddresses: { h: '10.9.0.5' } }] },
      Internal: false, Attachable: true, Ingress: false, ConfigOnly: false, ConfigFrom: null, Options: { 'com.docker.network.bridge.name': 'br-x' }, Labels: { 'com.docker.compose.network': 'default' },
    });
    validateNetworkConnect({ Container: 'c1', EndpointConfig: { Aliases: ['web'], IPAMConfig: { IPv4Address: '10.9.0.9' }, DriverOpts: null } });
    validateNetworkDisconnect({ Container: 'c1', Force: true });
    validateVolumeCreate({ Name: 'v1', Driver: 'local', DriverOpts: { type: 'tmpfs', device: 'tmpfs' }, Labels: { a: 'b' } });
    validateVolumeCreate({});
  });

  for (const c of badNetworkCreateBodies) test(`network create refuses ${c.what}`, () => refuses(validateNetworkCreate, c));
  for (const c of badNetworkConnectBodies) test(`network connect refuses ${c.what}`, () => refuses(validateNetworkConnect, c));
  for (const c of badNetworkDisconnectBodies) test(`network disconnect refuses ${c.what}`, () => refuses(validateNetworkDisconnect, c));
  for (const c of badVolumeCreateBodies) test(`volume create refuses ${c.what}`, () => refuses(validateVolumeCreate, c));
});

describe('request body nesting', () => {
  test('a body nested 100,000 levels deep is a 400 before it is parsed; brackets in strings do not count', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    assert.throws(() => parseJson(deep), (e: unknown) => e instanceof InvalidParameterError && e.message === 'invalid JSON: exceeded max depth');
    assert.deepEqual(parseJson(JSON.stringify({ Labels: { a: '['.repeat(5000) } })), { Labels: { a: '['.repeat(5000) } });
    assert.equal(parseJson('  '), undefined);
    assert.deepEqual(parseJson('{"a":[[[1]]]}'), { a: [[[1]]] });
  });
});
