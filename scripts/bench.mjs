#!/usr/bin/env node
// npm run bench: runs scripts/bench.sh (bash, needs root) and passes its exit code on.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
const script = fileURLToPath(new URL('./bench.sh', import.meta.url));
const r = spawnSync('bash', [script, ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
