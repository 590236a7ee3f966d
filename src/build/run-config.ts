/**
 * The container config a build step works on (Docker's runConfig), and the canonical form the
 * cache compares: the classic builder finds a cached step by a child image of the current image
 * whose ContainerConfig equals the step's config (with its Cmd set to the step's comment).
 */

export type RunConfig = Record<string, any>;

/** A fresh runConfig in Docker's field order. */
export function emptyRunConfig(): RunConfig {
  return {
    Hostname: '', Domainname: '', User: '', AttachStdin: false, AttachStdout: false, AttachStderr: false,
    Tty: false, OpenStdin: false, StdinOnce: false, Env: null, Cmd: null, Image: '', Volumes: null,
    WorkingDir: '', Entrypoint: null, OnBuild: null, Labels: null,
  };
}

/** A deep copy of an image's Config as the starting runConfig of a stage. */
export function runConfigFrom(imageConfig: Record<string, any> | undefined): RunConfig {
  const base = emptyRunConfig();
  if (!imageConfig) return base;
  return { ...base, ...JSON.parse(JSON.stringify(imageConfig)) };
}

export function copyRunConfig(c: RunConfig, changes: Partial<RunConfig> = {}): RunConfig {
  return { ...JSON.parse(JSON.stringify(c)), ...changes };
}

function normalise(v: unknown): unknown {
  if (v === null || v === undefined || v === false || v === '') return undefined;
  if (Array.isArray(v)) return v.length ? v.map((x) => (x === null ? null : normalise(x) ?? x)) : undefined;
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) {
      const n = normalise((v as Record<string, unknown>)[k]);
      if (n !== undefined) out[k] = n;
    }
    return Object.keys(out).length ? out : undefined;
  }
  return v;
}

/** The form two configs are compared in: empty and absent fields alike, keys sorted. */
export function canonicalConfig(c: RunConfig): string {
  return JSON.stringify(normalise(c) ?? {});
}

/** Sets KEY=value in an env list, replacing an earlier KEY in place (as Docker's ENV). */
export function setEnv(env: string[] | null | undefined, key: string, value: string): string[] {
  const out = [...(env ?? [])];
  const i = out.findIndex((e) => (e.includes('=') ? e.slice(0, e.indexOf('=')) : e) === key);
  if (i >= 0) out[i] = `${key}=${value}`;
  else out.push(`${key}=${value}`);
  return out;
}
