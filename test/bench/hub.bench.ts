/**
 * The Hub's benchmark figures (printed as test diagnostics; the floors asserted are far below
 * what a 2-core machine does, so only a real regression fails):
 *   - token issue + authorised blob HEAD per second, 16 concurrent clients;
 *   - the web search page's response time with 1,000 repositories.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { HubStore } from '../../src/hub/index.js';
import { basic, pushImage, spawnHub, type SpawnedHub } from '../integration/hub-harness.js';

const alice = { user: 'alice', password: 'alice-password-1' };
let hub: SpawnedHub;
before(async () => { hub = await spawnHub(); hub.createUser(alice.user, alice.password); });
after(async () => { await hub?.stop(); });

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

test('token issue + authorised blob HEAD, 16 concurrent clients', async (t) => {
  const img = await pushImage(hub, 'alice/bench', 'v1', alice);
  const auth = basic(alice.user, alice.password);
  const scope = encodeURIComponent('repository:alice/bench:pull');
  const durationMs = 3000;
  let done = 0;
  let failed = 0;
  const started = performance.now();
  const client = async (): Promise<void> => {
    while (performance.now() - started < durationMs) {
      const tr = await fetch(`${hub.url}/token?service=berth-hub&scope=${scope}`, { headers: { Authorization: auth } });
      const { token } = await tr.json() as { token: string };
      const h = await fetch(`${hub.url}/v2/alice/bench/blobs/${img.layerDigest}`, { method: 'HEAD', headers: { Authorization: `Bearer ${token}` } });
      if (h.status === 200) done++; else failed++;
    }
  };
  await Promise.all(Array.from({ length: 16 }, client));
  const secs = (performance.now() - started) / 1000;
  const rate = done / secs;
  t.diagnostic(`token issue + blob HEAD: ${rate.toFixed(0)}/s with 16 clients (${done} in ${secs.toFixed(1)} s)`);
  assert.equal(failed, 0);
  assert.ok(rate > 20, `${rate}/s`); // a floor for a loaded shared machine, not a target
});

test('web search page with 1,000 repositories', async (t) => {
  // The search page reads only metadata: fill the database directly (WAL: safe beside the running Hub).
  const store = new HubStore(join(hub.data, 'hub.db'));
  const words = ['nginx', 'postgres', 'redis', 'python', 'node', 'golang', 'alpine', 'debian', 'mysql', 'rabbitmq'];
  store.db.transaction(() => {
    for (let i = 0; i < 1000; i++) {
      const w = words[i % words.length];
      store.ensureRepo(`alice/${w}-${i}`, i % 5 === 0 ? 'private' : 'public', `# ${w} ${i}\n\nA ${w} image, build ${i}, with **tools**.`);
    }
  })();
  store.close();
  const time = async (path: string): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < 30; i++) {
      const s = performance.now();
      const r = await fetch(`${hub.url}${path}`);
      const body = await r.text();
      assert.equal(r.status, 200);
      assert.ok(path.startsWith('/v1/') ? body.endsWith('}') : body.includes('</html>'), body.slice(-300));
      out.push(performance.now() - s);
    }
    return out;
  };
  const q = median(await time('/search?q=redis'));
  const all = median(await time('/search'));
  const deep = median(await time('/search?q=o&page=20'));
  const api = median(await time('/v1/search?q=python&n=25'));
  for (const [name, v] of [['/search?q=redis', q], ['/search (all)', all], ['/search?q=o&page=20', deep], ['/v1/search?q=python', api]] as const) {
    t.diagnostic(`${name}: median ${v.toFixed(1)} ms over 30 requests (1,000 repositories)`);
  }
  assert.ok(q < 1000 && all < 1000 && deep < 1000, 'search pages answer within a second even on a loaded machine');
});
