import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tabulate } from '../../src/cli/format/tabwriter.js';
import { bytesSize, containerStatusText, humanDuration, humanSize, humanSizeWithPrecision, parseBytes } from '../../src/cli/format/humanize.js';
import { renderList, resolveFormat } from '../../src/cli/format/formatter.js';
import { CONTAINER_HEADERS, IMAGE_HEADERS, containerRow, displayablePorts, imageRows } from '../../src/cli/list-contexts.js';
import type { ContainerSummary, ImageSummary } from '../../src/client/index.js';

const NOW = Date.parse('2026-11-29T18:47:10Z');

const containers: ContainerSummary[] = [
  {
    Id: '00d8fa6ec33a224e8dc0f9ab77ca91d787f2f11a39e1b11488656ae8692b962f', Names: ['/j2'], Image: 'busybox', ImageID: 'sha256:4d8f',
    Command: 'sleep 1000', Created: NOW / 1000 - 2, State: 'running', Status: 'Up Less than a second', Labels: {},
    Ports: [{ IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }, { IP: '::', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }],
  },
  {
    Id: 'e1c60649847aefcacf9350e10ff0275389fdf4f3b1d7a0da422c85279fde29d6', Names: ['/j1'], Image: 'busybox', ImageID: 'sha256:4d8f',
    Command: "sh -c 'exit 3'", Created: NOW / 1000 - 2, State: 'exited', Status: 'Exited (3) Less than a second ago', Labels: { c: 'd', a: 'b' }, Ports: [],
  },
];

test('docker ps default table, byte for byte', () => {
  const out = renderList(resolveFormat(undefined, 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}'),
    containers.map((c) => containerRow(c, true, NOW)), CONTAINER_HEADERS);
  assert.equal(out, [
    'CONTAINER ID   IMAGE     COMMAND            CREATED         STATUS                              PORTS                                     NAMES',
    '00d8fa6ec33a   busybox   "sleep 1000"       2 seconds ago   Up Less than a second               0.0.0.0:8080->80/tcp, [::]:8080->80/tcp   j2',
    "e1c60649847a   busybox   \"sh -c 'exit 3'\"   2 seconds ago   Exited (3) Less than a second ago                                             j1",
    '',
  ].join('\n'));
});

test('docker ps custom table with Label and json rows', () => {
  const rows = containers.map((c) => containerRow(c, true, NOW));
  assert.equal(renderList('table {{.Names}}\\t{{.Label "a"}}\\t{{.Labels}}', rows, CONTAINER_HEADERS),
    'NAMES     a         LABELS\nj2                  \nj1        b         a=b,c=d\n');
  const json = renderList('{{json .}}', rows, CONTAINER_HEADERS).split('\n')[0];
  assert.equal(json, '{"Command":"\\"sleep 1000\\"","CreatedAt":"2026-11-29 18:47:08 +0000 UTC","ID":"00d8fa6ec33a","Image":"busybox","Labels":"","LocalVolumes":"0","Mounts":"","Names":"j2","Networks":"","Platform":null,"Ports":"0.0.0.0:8080-\\u003e80/tcp, [::]:8080-\\u003e80/tcp","RunningFor":"2 seconds ago","Size":"0B","State":"running","Status":"Up Less than a second"}');
  assert.equal(renderList('{{.ID}}: {{.Status}}', rows, CONTAINER_HEADERS), '00d8fa6ec33a: Up Less than a second\ne1c60649847a: Exited (3) Less than a second ago\n');
});

test('command truncation with an ellipsis, and --no-trunc', () => {
  const c = { ...containers[0], Command: 'sh -c "while true; do echo hello; done"' };
  assert.equal(containerRow(c, true, NOW).Command, '"sh -c \\"while true; …"');
  assert.equal(containerRow(c, false, NOW).ID, c.Id);
});

test('docker images table', () => {
  const imgs: ImageSummary[] = [
    { Id: 'sha256:4d8f89c1a53a55e362faa0dcf50b2205190ba77987bc741e8bbf99172e9cd3b0', ParentId: '', RepoTags: ['busybox:latest'], RepoDigests: [], Created: NOW / 1000 - 300, Size: 1984256, SharedSize: -1, Labels: null, Containers: -1 },
    { Id: 'sha256:97dbeb1690b4aaaaaaaa', ParentId: '', RepoTags: null, RepoDigests: null, Created: NOW / 1000 - 7200, Size: 0, SharedSize: -1, Labels: null, Containers: -1 },
  ];
  const out = renderList('table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}', imgs.flatMap((i) => imageRows(i, true, false, NOW)), IMAGE_HEADERS);
  assert.equal(out, [
    'REPOSITORY   TAG       IMAGE ID       CREATED         SIZE',
    'busybox      latest    4d8f89c1a53a   5 minutes ago   1.98MB',
    '<none>       <none>    97dbeb1690b4   2 hours ago     0B',
    '',
  ].join('\n'));
});

test('tabwriter: minwidth, padding, trailing cell not aligned, single-cell lines end blocks', () => {
  assert.equal(tabulate('A\tBB\tC\nlonger-than-ten\tx\ty\n'), 'A                 BB        C\nlonger-than-ten   x         y\n');
  assert.equal(tabulate('a\tb\nsingle\nccccccccccccc\td\n'), 'a         b\nsingle\nccccccccccccc   d\n');
  assert.equal(tabulate(' Version:\t1\n API:\t2\n', { minwidth: 20, padding: 1 }), ' Version:           1\n API:               2\n');
});

test('durations like go-units HumanDuration', () => {
  assert.equal(humanDuration(500), 'Less than a second');
  assert.equal(humanDuration(1000), '1 second');
  assert.equal(humanDuration(3000), '3 seconds');
  assert.equal(humanDuration(60_000), 'About a minute');
  assert.equal(humanDuration(2 * 60_000 + 5000), '2 minutes');
  assert.equal(humanDuration(3600_000), 'About an hour');
  assert.equal(humanDuration(5 * 3600_000), '5 hours');
  assert.equal(humanDuration(3 * 86400_000), '3 days');
  assert.equal(humanDuration(20 * 86400_000), '2 weeks');
  assert.equal(humanDuration(90 * 86400_000), '3 months');
  assert.equal(humanDuration(800 * 86400_000), '2 years');
});

test('container status text', () => {
  const now = Date.parse('2026-01-01T00:10:00Z');
  assert.equal(containerStatusText({ Running: true, StartedAt: '2026-01-01T00:09:57Z' }, now), 'Up 3 seconds');
  assert.equal(containerStatusText({ Running: false, ExitCode: 3, StartedAt: '2026-01-01T00:00:00Z', FinishedAt: '2026-01-01T00:08:00Z' }, now), 'Exited (3) 2 minutes ago');
  assert.equal(containerStatusText({ Running: false, StartedAt: '0001-01-01T00:00:00Z' }, now), 'Created');
  assert.equal(containerStatusText({ Running: true, Paused: true, StartedAt: '2026-01-01T00:09:00Z' }, now), 'Up About a minute (Paused)');
  assert.equal(containerStatusText({ Running: true, StartedAt: '2026-01-01T00:09:00Z', Health: { Status: 'starting' } }, now), 'Up About a minute (health: starting)');
});

test('sizes: decimal for images, binary for memory', () => {
  assert.equal(humanSizeWithPrecision(5_210_000, 3), '5.21MB');
  assert.equal(humanSizeWithPrecision(1_984_256, 3), '1.98MB');
  assert.equal(humanSize(1_984_256), '1.984MB');
  assert.equal(humanSizeWithPrecision(0, 3), '0B');
  assert.equal(humanSizeWithPrecision(999, 3), '999B');
  assert.equal(humanSizeWithPrecision(1000, 3), '1kB');
  assert.equal(bytesSize(389_120), '380KiB');
  assert.equal(bytesSize(23.54 * 1024 ** 3), '23.54GiB');
  assert.equal(parseBytes('32m'), 32 * 1024 * 1024);
  assert.equal(parseBytes('1g'), 1024 ** 3);
  assert.equal(parseBytes('512'), 512);
});

test('displayable ports group consecutive ranges', () => {
  assert.equal(displayablePorts([{ PrivatePort: 80, Type: 'tcp' }, { PrivatePort: 81, Type: 'tcp' }, { PrivatePort: 53, Type: 'udp' }]), '53/udp, 80-81/tcp');
  assert.equal(displayablePorts([{ IP: '0.0.0.0', PrivatePort: 80, PublicPort: 80, Type: 'tcp' }]), '0.0.0.0:80->80/tcp');
});

test('natural sort order of names (volume ls, network ls)', async () => {
  const { naturalCompare } = await import('../../src/cli/shared.js');
  assert.deepEqual(['04fe', '1a3d', 'v10', 'v9', 'a', 'B'].sort(naturalCompare), ['1a3d', '04fe', 'B', 'a', 'v9', 'v10']);
});

test('since/until values as docker\'s GetTimestamp sends them: durations in whole seconds, dates with nanoseconds', async () => {
  const { apiTimestamp } = await import('../../src/cli/shared.js');
  const now = Date.parse('2026-11-30T12:00:00.750Z');
  assert.equal(apiTimestamp('10m', now), String(Math.floor(now / 1000) - 600));
  assert.equal(apiTimestamp('1796046177', now), '1796046177');
  assert.equal(apiTimestamp('2026-11-30T12:00:00.5Z', now), `${Math.floor(Date.parse('2026-11-30T12:00:00Z') / 1000)}.500000000`);
});
