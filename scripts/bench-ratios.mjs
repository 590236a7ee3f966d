#!/usr/bin/env node
// Reads engine-bench/runtime-floor results.tsv files and prints berthd's ratios against the
// reference engine (label "dockerd") beside each issue's target.
import { readFileSync } from 'node:fs';

const rows = [];
for (const f of process.argv.slice(2)) {
  const lines = readFileSync(f, 'utf8').trim().split('\n').slice(1);
  for (const l of lines) { const c = l.split('\t'); rows.push({ label: c[0], metric: c[1], unit: c[2], n: Number(c[3]), median: Number(c[5]) }); }
}
const get = (label, metric) => rows.find((r) => r.label === label && r.metric === metric && r.n > 0)?.median;
const targets = [
  ['run --rm busybox true', /run_rm$|^run$|run-rm/, 0.3],
  ['20 detached starts', /detached.*total|detached_total|detached/, 0.25],
  ['logs 200k lines', /logs/, 0.5],
  ['memory with 20 running (PSS)', /pss.*running|mem.*pss.*20|running.*pss/i, 0.5],
  ['build cached', /build.*cached/, 0.4],
  ['build cold', /build.*cold/, 0.8],
  ['push', /push/, 0.5],
  ['pull', /pull/, 0.7],
];
const metrics = [...new Set(rows.map((r) => r.metric))];
console.log('\n## berthd against the reference (same run)\n');
console.log('| figure | metric | berthd | dockerd | ratio | target |');
console.log('| --- | --- | ---: | ---: | ---: | ---: |');
for (const [name, re, target] of targets) {
  for (const m of metrics.filter((x) => re.test(x))) {
    const b = get('berthd', m); const r = get('dockerd', m);
    if (b === undefined) continue;
    const ratio = r ? (b / r).toFixed(2) : '–';
    console.log(`| ${name} | ${m} | ${b} | ${r ?? '–'} | ${ratio} | ≤ ${target} |`);
  }
}
const floor = get('floor', metrics.find((m) => /runc/.test(m)) ?? '');
if (floor) console.log(`\nraw runc floor: ${floor} ms`);
