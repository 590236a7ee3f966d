/**
 * bin/berth end to end against a real engine: berthd started here on a temporary root and socket,
 * or the engine named by BERTH_TEST_DOCKER_HOST (e.g. the reference dockerd while berthd is young).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { startBerthd, type Berthd } from './helpers/berthd.js';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const distName = basename(fileURLToPath(new URL('../..', import.meta.url)));
const shared = join(repo, '..', 'shared');
const BERTH = join(repo, 'bin', 'berth');
const tag = `${process.pid}`;
const IMAGE = `berth-cli-test/busybox:${tag}`;
const prefix = `berth-cli-${tag}-`;

let host = process.env.BERTH_TEST_DOCKER_HOST ?? '';
let daemon: Berthd | undefined;
let tmp = '';
let skipReason: string | undefined;

interface Result { code: number; stdout: string; stderr: string }

function berth(args: string[], opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): Result {
  const r = spawnSync(process.execPath, [BERTH, ...args], {
    input: opts.input ?? '', timeout: 60_000,
    env: { ...process.env, DOCKER_HOST: host, BERTH_DIST: distName, DOCKER_CONTEXT: '', ...opts.env },
  });
  return { code: r.status ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** Runs berth asynchronously (for commands that overlap with others, like logs -f). */
function berthAsync(args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [BERTH, ...args], { env: { ...process.env, DOCKER_HOST: host, BERTH_DIST: distName, DOCKER_CONTEXT: '' } });
    let stdout = ''; let stderr = '';
    c.stdout.on('data', (d) => { stdout += d; }); c.stderr.on('data', (d) => { stderr += d; });
    c.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'berth-cli-it-'));
  if (!host) {
    // Our own berthd (own root, socket, bridge and subnets), via the shared harness.
    if (!existsSync(join(repo, distName, 'src', 'daemon', 'main.js'))) { skipReason = 'berthd not built'; return; }
    try { daemon = await startBerthd(); } catch (e) { skipReason = `berthd did not come up: ${(e as Error).message.slice(-500)}`; return; }
    host = daemon.host;
  }
  const rootfs = join(tmp, 'bb.tar');
  const mk = spawnSync('bash', [join(shared, 'tools', 'make-busybox-rootfs.sh'), rootfs], { encoding: 'utf8' });
  if (mk.status !== 0) { skipReason = `could not build the busybox rootfs: ${mk.stderr}`; return; }
  const imp = berth(['import', '-c', 'CMD ["sh"]', rootfs, IMAGE]);
  if (imp.code !== 0) { skipReason = `import failed: ${imp.stderr}`; return; }
});

after(async () => {
  if (!skipReason) {
    const left = berth(['ps', '-aq', '--filter', `name=${prefix}`]).stdout.split('\n').filter(Boolean);
    if (left.length) berth(['rm', '-f', ...left]);
    for (const img of [IMAGE, `${IMAGE}-tagged`, `berth-cli-test/other:${tag}`]) berth(['rmi', '-f', img]);
  }
  if (daemon) await daemon.cleanup();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function skipIfNoEngine(t: { skip: (m: string) => void }): boolean {
  if (skipReason) { t.skip(skipReason); return true; }
  return false;
}

test('run prints the output and passes exit codes through', (t) => {
  if (skipIfNoEngine(t)) return;
  const r = berth(['run', '--rm', IMAGE, 'echo', 'hello from berth']);
  assert.equal(r.stdout, 'hello from berth\n');
  assert.equal(r.code, 0);
  const r3 = berth(['run', '--rm', IMAGE, 'sh', '-c', 'echo out; echo err >&2; exit 3']);
  assert.equal(r3.code, 3);
  assert.equal(r3.stdout, 'out\n');
  assert.equal(r3.stderr, 'err\n');
  const piped = berth(['run', '--rm', '-i', IMAGE, 'cat'], { input: 'from stdin\n' });
  assert.equal(piped.stdout, 'from stdin\n');
  const env = berth(['run', '--rm', '-e', 'A=1', '--env=B=two', '-w', '/tmp', IMAGE, 'sh', '-c', 'echo $A $B $(pwd)']);
  assert.equal(env.stdout, '1 two /tmp\n');
});

test('run errors look like docker\'s', (t) => {
  if (skipIfNoEngine(t)) return;
  const name = `${prefix}dup`;
  assert.equal(berth(['create', '--name', name, IMAGE]).code, 0);
  const dup = berth(['run', '--name', name, IMAGE, 'true']);
  assert.equal(dup.code, 125);
  assert.match(dup.stderr, /^berth: Error response from daemon: .*already in use/);
  assert.match(dup.stderr, /\n\nRun 'berth run --help' for more information\n$/);
  const bad = berth(['run', '--nope', IMAGE]);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /^unknown flag: --nope\n\nUsage:  berth run \[OPTIONS\] IMAGE \[COMMAND\] \[ARG\.\.\.\]\n/);
  // A value the flags parse but cannot use: run-style, without the usage block (as docker's parse errors).
  const conflict = berth(['run', '--rm', '--restart', 'always', IMAGE, 'true']);
  assert.deepEqual([conflict.code, conflict.stderr], [125, "berth: conflicting options: cannot specify both --restart and --rm\n\nRun 'berth run --help' for more information\n"]);
  // inspect with a template prints what it could render, then the template's error.
  const partial = berth(['inspect', '-f', '{{.Name}}', name, IMAGE]);
  assert.equal(partial.code, 1);
  assert.equal(partial.stdout, `/${name}\n`);
  assert.match(partial.stderr, /^template parsing error: .*map has no entry for key "Name"/);
  const missing = berth(['rm', `${prefix}missing`]);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, `Error response from daemon: No such container: ${prefix}missing\n`);
  // With -f, as docker CLI 28: said, but not a failure.
  const forced = berth(['rm', '-f', `${prefix}missing`]);
  assert.deepEqual([forced.code, forced.stderr], [0, `Error response from daemon: No such container: ${prefix}missing\n`]);
  const net = berth(['network', 'rm', `${prefix}nonet`]);
  assert.deepEqual([net.code, net.stderr], [1, `Error response from daemon: network ${prefix}nonet not found\nexit status 1\n`]);
  const netForced = berth(['network', 'rm', '-f', `${prefix}nonet`]);
  assert.deepEqual([netForced.code, netForced.stderr], [0, '']);
  const down = berth(['ps'], { env: { DOCKER_HOST: `unix://${join(tmp, 'nothing.sock')}` } });
  assert.equal(down.code, 1);
  assert.equal(down.stderr, `Cannot connect to the Docker daemon at unix://${join(tmp, 'nothing.sock')}. Is the docker daemon running?\n`);
  assert.equal(berth(['rm', name]).code, 0);
});

test('run -d then logs -f follows until the container exits', async (t) => {
  if (skipIfNoEngine(t)) return;
  const name = `${prefix}logs`;
  const d = berth(['run', '-d', '--name', name, IMAGE, 'sh', '-c', 'for i in 1 2 3; do echo line$i; sleep 0.2; done; echo done >&2']);
  assert.equal(d.code, 0);
  assert.match(d.stdout, /^[0-9a-f]{64}\n$/);
  const f = await berthAsync(['logs', '-f', name]);
  assert.equal(f.code, 0);
  assert.equal(f.stdout, 'line1\nline2\nline3\n');
  assert.equal(f.stderr, 'done\n');
  const tail = berth(['logs', '--tail', '2', name]);
  assert.equal(tail.stdout, 'line3\n');
  assert.equal(tail.stderr, 'done\n');
  const ts = berth(['logs', '-t', name]).stdout.split('\n')[0];
  assert.match(ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z line1$/);
  assert.equal(berth(['wait', name]).stdout, '0\n');
});

test('ps: default table, --format, json, -q, filters', (t) => {
  if (skipIfNoEngine(t)) return;
  const name = `${prefix}ps`;
  assert.equal(berth(['run', '--name', name, '-l', 'role=test', IMAGE, 'sh', '-c', 'exit 3']).code, 3);
  const table = berth(['ps', '-a', '--filter', `name=${name}`]);
  const lines = table.stdout.split('\n');
  assert.match(lines[0], /^CONTAINER ID   IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
  assert.match(lines[1], new RegExp(`^[0-9a-f]{12}   ${IMAGE.replace(/[/.]/g, '\\$&')}   "sh -c 'exit 3'"   .* ago\\s+Exited \\(3\\) .* ago\\s+${name}$`));
  assert.equal(lines.length, 3);
  const fmt = berth(['ps', '-a', '--filter', `name=${name}`, '--format', '{{.Names}}|{{.State}}|{{.Label "role"}}|{{.Command}}']);
  assert.equal(fmt.stdout, `${name}|exited|test|"sh -c 'exit 3'"\n`);
  const json = JSON.parse(berth(['ps', '-a', '--filter', `name=${name}`, '--format', 'json']).stdout);
  assert.equal(json.Names, name);
  assert.equal(json.Labels, 'role=test');
  assert.match(json.Status, /^Exited \(3\)/);
  const custom = berth(['ps', '-a', '--filter', `name=${name}`, '--format', 'table {{.Names}}\t{{.Status}}']).stdout.split('\n');
  assert.match(custom[0], /^NAMES\s+STATUS$/);
  assert.equal(custom[0].indexOf('STATUS'), Math.max(10, name.length + 3));
  const q = berth(['ps', '-aq', '--filter', `name=${name}`]).stdout;
  assert.match(q, /^[0-9a-f]{12}\n$/);
  assert.equal(berth(['container', 'ls', '-q', '--filter', `name=${name}`]).stdout, '');
  assert.equal(berth(['ps', '-a', '-q', '--no-trunc', '--filter', 'label=role=test', '--filter', `name=${name}`]).stdout.trim().length, 64);
});

test('inspect and --format', (t) => {
  if (skipIfNoEngine(t)) return;
  const name = `${prefix}insp`;
  assert.equal(berth(['create', '--name', name, '-e', 'X=1', '-h', 'myhost', IMAGE, 'echo', 'a<b']).code, 0);
  assert.equal(berth(['inspect', '--format', '{{.Config.Hostname}} {{.State.Status}} {{json .Config.Cmd}}', name]).stdout, 'myhost created ["echo","a<b"]\n');
  assert.equal(berth(['inspect', '-f', '{{index .Config.Env 0}}', name]).stdout.startsWith('X=1') || berth(['inspect', '-f', '{{range .Config.Env}}{{.}} {{end}}', name]).stdout.includes('X=1'), true);
  const raw = berth(['container', 'inspect', name]);
  assert.equal(raw.code, 0);
  const parsed = JSON.parse(raw.stdout);
  assert.equal(parsed.length, 1);
  assert.equal(parsed[0].Name, `/${name}`);
  assert.match(raw.stdout, /^\[\n    \{\n        "Id": "/);
  assert.match(raw.stdout, /"a\\u003cb"/);
  const img = berth(['inspect', '--type', 'image', '--format', '{{json .Config.Cmd}}', IMAGE]);
  assert.equal(img.stdout, '["sh"]\n');
  const missing = berth(['inspect', `${prefix}none`]);
  assert.equal(missing.code, 1);
  assert.equal(missing.stdout, '[]\n');
  assert.equal(missing.stderr, `Error: No such object: ${prefix}none\n`);
  assert.equal(berth(['rm', name]).stdout, `${name}\n`);
});

test('images, tag, rmi', (t) => {
  if (skipIfNoEngine(t)) return;
  const list = berth(['images', 'berth-cli-test/busybox']);
  const lines = list.stdout.split('\n');
  assert.match(lines[0], /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
  assert.match(lines[1], new RegExp(`^berth-cli-test/busybox   ${tag}\\s+[0-9a-f]{12}   .* ago\\s+\\d+(\\.\\d+)?[kM]B$`));
  const id = berth(['images', '-q', IMAGE]).stdout.trim();
  assert.match(id, /^[0-9a-f]{12}$/);
  assert.equal(berth(['tag', IMAGE, `${IMAGE}-tagged`]).code, 0);
  // dockerd narrows RepoTags to the matching reference (one line); any engine must at least list it.
  const tagged = berth(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}', `${IMAGE}-tagged`]).stdout.split('\n');
  assert.ok(tagged.includes(`${IMAGE}-tagged ${id}`), tagged.join('\n'));
  const rmi = berth(['rmi', `${IMAGE}-tagged`]);
  assert.equal(rmi.stdout, `Untagged: ${IMAGE}-tagged\n`);
  assert.equal(berth(['images', '-q', `${IMAGE}-tagged`]).stdout, '');
  const h = berth(['history', IMAGE]);
  assert.match(h.stdout.split('\n')[0], /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
});

test('save then load gives back the same image ID', (t) => {
  if (skipIfNoEngine(t)) return;
  const other = `berth-cli-test/other:${tag}`;
  assert.equal(berth(['tag', IMAGE, other]).code, 0);
  const id = berth(['image', 'inspect', '-f', '{{.Id}}', other]).stdout.trim();
  const out = join(tmp, 'saved.tar');
  const s = berth(['save', '-o', out, other]);
  assert.equal(s.code, 0, s.stderr);
  assert.ok(statSync(out).size > 100_000);
  assert.equal(berth(['rmi', other]).code, 0);
  const l = berth(['load', '-q', '-i', out]);
  assert.equal(l.code, 0, l.stderr);
  assert.equal(l.stdout, `Loaded image: ${other}\n`, 'quiet drops progress, not what was loaded (as the docker CLI)');
  assert.equal(berth(['image', 'inspect', '-f', '{{.Id}}', other]).stdout.trim(), id);
  const bad = berth(['load'], { input: Buffer.from('this is not a tar archive at all'.repeat(40)) });
  assert.notEqual(bad.code, 0);
  // dockerd answers with an HTTP error, other engines may report it inside the JSON stream.
  assert.ok(bad.stderr.trim().length > 0);
  assert.equal(bad.stdout, '');
});

test('info prints the lines the docker CLI prints for the same daemon', (t) => {
  if (skipIfNoEngine(t)) return;
  const mine = berth(['info']);
  assert.equal(mine.code, 0, mine.stderr);
  const theirs = spawnSync('docker', ['info'], { env: { ...process.env, DOCKER_HOST: host, DOCKER_CONTEXT: '' }, encoding: 'utf8' });
  // The client section and the runtimes' order (docker lists a map) aside, the server section is the same text.
  const server = (text: string) => text.slice(text.indexOf('Server:')).split('\n').filter((l) => !/^ Runtimes: /.test(l)).join('\n');
  assert.equal(server(mine.stdout), server(theirs.stdout));
});

test('build prints the docker CLI\'s legacy-builder lines, starting with the context it sent', (t) => {
  if (skipIfNoEngine(t)) return;
  const dir = join(tmp, 'buildctx');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'Dockerfile'), `FROM ${IMAGE}\nCMD ["true"]\n`);
  const name = `berth-cli-test/built:${tag}`;
  const b = berth(['build', '-t', name, dir]);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stdout, /^Sending build context to Docker daemon  \d+(\.\d+)?[kM]?B\r\r\nStep 1\/2 : FROM /);
  assert.match(b.stdout, new RegExp(`Successfully tagged ${name.replace(/[/.]/g, '\\$&')}\n$`));
  assert.equal(berth(['rmi', name]).code, 0);
});

/** Skips when the daemon does not serve an endpoint yet (berthd grows endpoint by endpoint). */
function unsupported(t: { skip: (m: string) => void }, r: Result, what: string): boolean {
  if (/page not found|not implemented|is not available/i.test(r.stderr)) { t.skip(`${what}: ${r.stderr.trim()}`); return true; }
  return false;
}

test('run -it through a pty the test drives: type, read, resize, exit', async (t) => {
  if (skipIfNoEngine(t)) return;
  const driver = join(repo, 'test', 'integration', 'helpers', 'pty-driver.py');
  if (!existsSync(driver)) { t.skip('pty driver not available'); return; }
  const env = { ...process.env, DOCKER_HOST: host, BERTH_DIST: distName, DOCKER_CONTEXT: '' };
  const c = spawn('python3', [driver, process.execPath, BERTH, 'run', '-it', '--rm', IMAGE, 'sh'], { env });
  let out = ''; let err = '';
  c.stdout.on('data', (d) => { out += d; }); c.stderr.on('data', (d) => { err += d; });
  const exited = new Promise<void>((r) => c.on('exit', () => r()));
  const send = (o: unknown): void => { c.stdin.write(JSON.stringify(o) + '\n'); };
  const waitOut = async (re: RegExp, what: string): Promise<void> => {
    const deadline = Date.now() + 20_000;
    while (!re.test(out)) {
      if (Date.now() > deadline || c.exitCode !== null) throw new Error(`timed out waiting for ${what}; output so far: ${JSON.stringify(out)} ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    await waitOut(/\/ # /, 'the shell prompt');
    send({ write: 'echo typed-$((6*7)); stty size </dev/tty\r' });
    await waitOut(/typed-42\r*\n24 80/, 'the echo and the initial size');
    send({ resize: [33, 111] });
    send({ write: 'stty size </dev/tty\r' });
    await waitOut(/33 111/, 'the new size after SIGWINCH');
    send({ write: 'exit 3\r' });
    c.stdin.end();
    await exited;
    assert.match(err, /EXIT 3/);
  } finally {
    if (c.exitCode === null) c.kill('SIGKILL');
  }
});

test('exec, cp, stats, diff through bin/berth', async (t) => {
  if (skipIfNoEngine(t)) return;
  const name = `${prefix}exec`;
  assert.equal(berth(['run', '-d', '--name', name, IMAGE, 'sleep', '60']).code, 0);
  const e = berth(['exec', '-e', 'Z=3', '-w', '/tmp', name, 'sh', '-c', 'echo $Z $(pwd); echo err >&2; exit 5']);
  if (unsupported(t, e, 'exec')) return;
  assert.equal(e.stdout, '3 /tmp\n');
  assert.equal(e.stderr, 'err\n');
  assert.equal(e.code, 5);
  assert.equal(berth(['exec', '-i', name, 'cat'], { input: 'via stdin\n' }).stdout, 'via stdin\n');
  const src = join(tmp, 'hello.txt');
  spawnSync('sh', ['-c', `echo copied-in > ${src}`]);
  const cpIn = berth(['cp', src, `${name}:/tmp/`]);
  if (unsupported(t, cpIn, 'cp')) return;
  assert.equal(cpIn.code, 0, cpIn.stderr);
  assert.equal(berth(['exec', name, 'cat', '/tmp/hello.txt']).stdout, 'copied-in\n');
  const back = join(tmp, 'back.txt');
  assert.equal(berth(['cp', `${name}:/tmp/hello.txt`, back]).code, 0);
  assert.equal(spawnSync('cat', [back], { encoding: 'utf8' }).stdout, 'copied-in\n');
  assert.match(berth(['diff', name]).stdout, /^A \/tmp\/hello\.txt$/m);
  const st = berth(['stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}}', name]);
  if (!unsupported(t, st, 'stats')) assert.equal(st.stdout, `${name} 1\n`);
  // {{json .}} with the docker CLI's keys in its order.
  const keys = (text: string) => Object.keys(JSON.parse(text));
  const theirs = spawnSync('docker', ['stats', '--no-stream', '--format', 'json', name], { env: { ...process.env, DOCKER_HOST: host, DOCKER_CONTEXT: '' }, encoding: 'utf8' });
  assert.deepEqual(keys(berth(['stats', '--no-stream', '--format', 'json', name]).stdout), keys(theirs.stdout));
  assert.equal(berth(['rm', '-f', name]).stdout, `${name}\n`);
});

test('volumes through bin/berth', (t) => {
  if (skipIfNoEngine(t)) return;
  const vol = `${prefix}vol`;
  const c = berth(['volume', 'create', '--label', 'k=v', vol]);
  if (unsupported(t, c, 'volumes')) return;
  assert.equal(c.stdout, `${vol}\n`);
  assert.equal(berth(['volume', 'ls', '-q', '--filter', `name=${vol}`]).stdout, `${vol}\n`);
  assert.equal(berth(['volume', 'inspect', '-f', '{{.Name}} {{.Driver}} {{.Labels.k}}', vol]).stdout, `${vol} local v\n`);
  const r = berth(['run', '--rm', '-v', `${vol}:/data`, IMAGE, 'sh', '-c', 'echo kept > /data/f']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(berth(['run', '--rm', '-v', `${vol}:/data`, IMAGE, 'cat', '/data/f']).stdout, 'kept\n');
  assert.equal(berth(['volume', 'rm', vol]).stdout, `${vol}\n`);
});

test('system df and system df -v through bin/berth: sizes of what containers wrote, volumes and images', (t) => {
  if (skipIfNoEngine(t)) return;
  const vol = `${prefix}dfvol`;
  const name = `${prefix}dfc`;
  const r = berth(['run', '--name', name, '-v', `${vol}:/d`, IMAGE, 'sh', '-c', 'head -c 5000 /dev/zero > /d/f; head -c 3000 /dev/zero > /g']);
  assert.equal(r.code, 0, r.stderr);
  try {
    const v = berth(['system', 'df', '-v']);
    assert.equal(v.code, 0, v.stderr);
    const sections = ['Images space usage:', 'Containers space usage:', 'Local Volumes space usage:', 'Build cache usage: 0B'];
    let at = -1;
    for (const s of sections) { const i = v.stdout.indexOf(s); assert.ok(i > at, `${s} in order in\n${v.stdout}`); at = i; }
    const lines = v.stdout.split('\n');
    assert.match(lines.find((l) => l.endsWith(` ${name}`)) ?? '', /"sh -c 'head -c 5000…"\s+1\s+3kB\s/);
    assert.match(lines.find((l) => l.startsWith(`${vol} `)) ?? '', new RegExp(`^${vol}\\s+1\\s+5kB$`));
    assert.match(v.stdout, /REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\s+SHARED SIZE\s+UNIQUE SIZE\s+CONTAINERS\n/);
    const summary = berth(['system', 'df', '--format', '{{.Type}} {{.TotalCount}}']);
    assert.match(summary.stdout, /^Images \d+\nContainers \d+\nLocal Volumes \d+\nBuild Cache 0\n$/);
  } finally {
    berth(['rm', '-f', name]);
    berth(['volume', 'rm', vol]);
  }
});
