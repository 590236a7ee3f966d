/**
 * The filesystem as a project load sees it. Every file the loader reads (compose files, .env, env_file,
 * label_file, extends and include files) and every path it looks for (compose.yaml in the working directory and
 * its parents, override files) goes through here; while `recordInputs` runs, each observation is written down,
 * so that the project cache (project-cache.ts) can later tell whether a load would still see the same thing.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';

/** What one filesystem look gave: a file's text (by digest, null when it could not be read), existence, a regular file. */
export type InputObservation =
  | { kind: 'text'; path: string; digest: string | null }
  | { kind: 'exists'; path: string; value: boolean }
  | { kind: 'isFile'; path: string; value: boolean };

/** Loads are synchronous: one recording at a time. */
let recording: InputObservation[] | undefined;

const digestOf = (text: string): string => createHash('sha256').update(text).digest('hex');

/** A file's text (UTF-8); a failure is thrown as fs throws it. */
export function readText(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    recording?.push({ kind: 'text', path, digest: null });
    throw err;
  }
  recording?.push({ kind: 'text', path, digest: digestOf(text) });
  return text;
}

export function exists(path: string): boolean {
  const value = existsSync(path);
  recording?.push({ kind: 'exists', path, value });
  return value;
}

/** True for a regular file (following symlinks); false when missing or anything else. */
export function isFile(path: string): boolean {
  let value: boolean;
  try { value = statSync(path).isFile(); } catch { value = false; }
  recording?.push({ kind: 'isFile', path, value });
  return value;
}

/** Runs `fn` and returns, beside its result, every filesystem observation it made through this module. */
export function recordInputs<T>(fn: () => T): { result: T; inputs: InputObservation[] } {
  const outer = recording;
  const inputs: InputObservation[] = [];
  recording = inputs;
  try {
    return { result: fn(), inputs };
  } finally {
    recording = outer;
    outer?.push(...inputs);
  }
}

/** True when looking again gives what was recorded (same texts, same existence): a load would see the same files. */
export function inputsUnchanged(inputs: InputObservation[]): boolean {
  const texts = new Map<string, string | null>();
  for (const o of inputs) {
    switch (o.kind) {
      case 'text': {
        let now = texts.get(o.path);
        if (now === undefined) {
          try { now = digestOf(readFileSync(o.path, 'utf8')); } catch { now = null; }
          texts.set(o.path, now);
        }
        if (now !== o.digest) return false;
        break;
      }
      case 'exists':
        if (existsSync(o.path) !== o.value) return false;
        break;
      case 'isFile': {
        let now: boolean;
        try { now = statSync(o.path).isFile(); } catch { now = false; }
        if (now !== o.value) return false;
        break;
      }
    }
  }
  return true;
}
