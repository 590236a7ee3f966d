/**
 * Requests that used to hang, freeze or wear down the daemon, or delete what Docker keeps: broken
 * URL escapes and request targets, a name filter built to backtrack, execs that leaked descriptors,
 * a health probe every few nanoseconds, image prune filters, and filter values dockerd refuses.
 * Each gets a prompt Docker-style answer and the daemon keeps serving.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { request } from 'node:http';
import { busyboxRootfs, importBusybox, startBerthd, type Berthd } from './helpers/berthd.js';

/** A raw request with the target exactly as given (no client-side normalisation); gives up after 10 s. */
function rawRequest(socket: string, method: string, target: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method, path: target, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => { req.destroy(); reject(new Error(`no answer to ${method} ${target} within 10 s`)); });
    req.on('error', reject);
    req.end();
  });
}

const filters = (f: Record<string, string[]>) => encodeURIComponent(JSON.stringify(f));

describe('API robustness', () => {
  let d: Berthd;
  before(async () => { d = await startBerthd(); importBusybox(d); });
  after(async () => { await d?.cleanup(); });

  test('broken %-escapes and request targets get a 400 with a JSON message, not a hang', async () => {
    for (const target of ['/v1.45/containers/%ZZ/json', '/v1.45/images/%E0%A4%A/json', '//:/']) {
      const r = await rawRequest(d.socket, 'GET', target);
      assert.equal(r.status, 400, target);
      assert.ok(JSON.parse(r.body).message, target);
    }
    assert.equal((await d.api('GET', '/_ping')).status, 200);
  });

  test('name filters are regular expressions matched in linear time; one that does not compile matches nothing', async () => {
    const name = 'a'.repeat(40);
    assert.equal(d.docker(['create', '--name', name, 'busybox', 'true']).status, 0);
    try {
      // (a+)+b against forty a's: hours of backtracking for a backtracking engine, nothing for RE2.
      const r = await rawRequest(d.socket, 'GET', `/v1.45/containers/json?all=1&filters=${filters({ name: ['(a+)+b'] })}`);
      assert.equal(r.status, 200);
      assert.deepEqual(JSON.parse(r.body), []);
      const hit = await d.api('GET', `/containers/json?all=1&filters=${filters({ name: ['^a{40}$'] })}`);
      assert.deepEqual(hit.json.map((c: { Names: string[] }) => c.Names[0]), [`/${name}`]);
      const bad = await d.api('GET', `/containers/json?all=1&filters=${filters({ name: ['('] })}`);
      assert.equal(bad.status, 200);
      assert.deepEqual(bad.json, []);
    } finally { d.docker(['rm', '-f', name]); }
  });

  test('execs give their descriptors back', async () => {
    assert.equal(d.docker(['run', '-d', '--name', 'execd', 'busybox', 'sleep', '1000']).status, 0);
    try {
      assert.equal(d.docker(['exec', 'execd', 'true']).status, 0);   // the exec helper is up
      const fds = () => readdirSync(`/proc/${d.proc.pid}/fd`).length;
      const before = fds();
      for (let i = 0; i < 15; i++) assert.equal(d.docker(['exec', 'execd', 'sh', '-c', 'echo out; echo err >&2']).stdout, 'out\n');
      // Three sockets per exec stayed open before; a handful of unrelated descriptors may come and go.
      assert.ok(fds() - before < 10, `daemon descriptors grew from ${before} to ${fds()} over 15 execs`);
    } finally { d.docker(['rm', '-f', 'execd']); }
  });

  test('health checks: durations under 1ms and negative retries are refused at create', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ Test: ['CMD', 'true'], Interval: 5 }, 'Interval in Healthcheck cannot be less than 1ms'],
      [{ Test: ['CMD', 'true'], Timeout: 999_999 }, 'Timeout in Healthcheck cannot be less than 1ms'],
      [{ Test: ['CMD', 'true'], StartPeriod: 1 }, 'StartPeriod in Healthcheck cannot be less than 1ms'],
      [{ Test: ['CMD', 'true'], Retries: -1 }, 'Retries in Healthcheck cannot be negative'],
    ];
    for (const [hc, msg] of cases) {
      const r = await d.api('POST', '/containers/create', JSON.stringify({ Image: 'busybox', Cmd: ['true'], Healthcheck: hc }), { 'Content-Type': 'application/json' });
      assert.equal(r.status, 400, JSON.stringify(hc));
      assert.equal(r.json.message, msg);
    }
    const ok = d.docker(['create', '--name', 'hc-ok', '--health-cmd', 'true', '--health-interval', '1s', 'busybox', 'true']);
    assert.equal(ok.status, 0, ok.stderr);
    d.docker(['rm', 'hc-ok']);
  });

  test('image prune keeps what its label and until filters exclude; a bad dangling value is refused', async () => {
    assert.equal(d.docker(['tag', 'busybox', 'keep/me:1']).status, 0);
    const prune = (f: Record<string, string[]>) => d.api('POST', `/images/prune?filters=${filters(f)}`);
    let r = await prune({ dangling: ['false'], label: ['no.such.label=yes'] });
    assert.equal(r.status, 200);
    assert.equal(r.json.ImagesDeleted, null);
    r = await prune({ dangling: ['false'], until: ['1970-01-02T00:00:00Z'] });
    assert.equal(r.json.ImagesDeleted, null);
    r = await prune({ dangling: ['maybe'] });
    assert.equal(r.status, 400);
    assert.equal(r.json.message, "invalid filter 'dangling=maybe'");
    assert.equal(d.docker(['image', 'inspect', 'keep/me:1']).status, 0, 'the tagged image is still there');
    // And with no filter that excludes it, the unused tagged image goes, as with docker image prune -a.
    assert.equal(d.docker(['run', '-d', '--name', 'holder', 'busybox', 'sleep', '1000']).status, 0);
    try {
      const id = d.docker(['image', 'inspect', '-f', '{{.Id}}', 'busybox']).stdout.trim();
      assert.equal(d.docker(['import', '-c', 'LABEL team=other', busyboxRootfs(), 'other/img:1']).status, 0);
      r = await prune({ dangling: ['false'], label: ['team=nobody'] });
      assert.equal(r.json.ImagesDeleted, null, 'a label no image has keeps them all');
      r = await prune({ dangling: ['false'], label: ['team=other'] });
      assert.equal(r.status, 200);
      assert.ok(r.json.ImagesDeleted.some((x: { Untagged?: string }) => x.Untagged === 'other/img:1'), JSON.stringify(r.json));
      assert.notEqual(d.docker(['image', 'inspect', 'other/img:1']).status, 0);
      assert.equal(d.docker(['image', 'inspect', '-f', '{{.Id}}', 'busybox']).stdout.trim(), id, 'an image a container uses stays');
    } finally { d.docker(['rm', '-f', 'holder']); }
  });

  test('filter values and parameters dockerd refuses get 400, before any answer starts', async () => {
    const cases: [string, string, string][] = [
      ['GET', `/containers/json?filters=${filters({ status: ['bogus'] })}`, "invalid filter 'status=bogus'"],
      ['GET', `/containers/json?filters=${filters({ health: ['abc'] })}`, 'unrecognized filter value for health: abc'],
      ['GET', `/images/json?filters=${filters({ dangling: ['maybe'] })}`, "invalid filter 'dangling=maybe'"],
      ['GET', `/images/json?filters=${filters({ until: ['garbage'] })}`, 'failed to parse value as time or duration: "garbage"'],
      ['GET', `/networks?filters=${filters({ bogus: ['x'] })}`, "invalid filter 'bogus'"],
      ['GET', `/networks?filters=${filters({ type: ['x'] })}`, "invalid filter: 'type'='x'"],
      ['POST', `/containers/prune?filters=${filters({ until: ['garbage'] })}`, 'failed to parse value as time or duration: "garbage"'],
      ['POST', `/networks/prune?filters=${filters({ until: ['garbage'] })}`, 'failed to parse value as time or duration: "garbage"'],
      ['POST', '/images/busybox/tag?repo=sha256&tag=x', 'refusing to create an ambiguous tag using digest algorithm as name'],
      ['POST', `/images/busybox/tag?repo=${'ab'.repeat(32)}`, `invalid repository name (${'ab'.repeat(32)}), cannot specify 64-byte hexadecimal strings`],
    ];
    for (const [method, path, msg] of cases) {
      const r = await d.api(method, path);
      assert.equal(r.status, 400, `${method} ${path}`);
      assert.equal(r.json.message, msg, `${method} ${path}`);
    }
    assert.equal(d.docker(['create', '--name', 'waiter', 'busybox', 'true']).status, 0);
    const w = await d.api('POST', '/containers/waiter/wait?condition=bogus');
    assert.equal(w.status, 400);
    assert.equal(w.json.message, 'invalid condition: "bogus"');
    d.docker(['rm', 'waiter']);
    // A bad change in docker import stores nothing.
    const before = d.docker(['images', '-aq']).stdout;
    const imp = d.docker(['import', '-c', 'BOGUS x', '-', 'imp/bad:1'], { input: '' });
    assert.notEqual(imp.status, 0);
    assert.equal(imp.stderr.trim(), 'Error response from daemon: bogus is not a valid change command', 'refused as the request, as dockerd does');
    assert.equal(d.docker(['images', '-aq']).stdout, before);
  });
});
