/**
 * Row objects for list commands' templates, mirroring the docker CLI's formatter contexts
 * (ContainerContext, ImageContext, ...): each field is a getter returning the displayed string.
 */
import type { ContainerSummary, ImageSummary, Network, Port, Volume } from '../client/index.js';
import { humanDuration, humanSizeWithPrecision } from './format/humanize.js';
import { ellipsis, goTimeString, truncateId } from './shared.js';

/** Docker's DisplayablePorts: groups consecutive ports, host mappings last. */
export function displayablePorts(ports: Port[]): string {
  const sorted = [...ports].sort((i, j) => {
    if (i.PrivatePort !== j.PrivatePort) return i.PrivatePort - j.PrivatePort;
    if ((i.IP ?? '') !== (j.IP ?? '')) return (i.IP ?? '') < (j.IP ?? '') ? -1 : 1;
    if ((i.PublicPort ?? 0) !== (j.PublicPort ?? 0)) return (i.PublicPort ?? 0) - (j.PublicPort ?? 0);
    return i.Type < j.Type ? -1 : i.Type > j.Type ? 1 : 0;
  });
  const groups = new Map<string, { first: number; last: number }>();
  const keys: string[] = [];
  const result: string[] = [];
  const hostMappings: string[] = [];
  const formGroup = (key: string, first: number, last: number): string => {
    const parts = key.split('/');
    let type = parts[0]; let ip = '';
    if (parts.length > 1) { ip = parts[0]; type = parts[1]; }
    let g = String(first);
    if (first !== last) g = `${g}-${last}`;
    if (ip) g = `${ip}:${g}->${g}`;
    return `${g}/${type}`;
  };
  for (const p of sorted) {
    const current = p.PrivatePort;
    let key = p.Type;
    if (p.IP) {
      if ((p.PublicPort ?? 0) !== current) {
        const host = p.IP.includes(':') ? `[${p.IP}]` : p.IP;
        hostMappings.push(`${host}:${p.PublicPort ?? 0}->${p.PrivatePort}/${p.Type}`);
        continue;
      }
      key = `${p.IP}/${p.Type}`;
    }
    const g = groups.get(key);
    if (!g) { groups.set(key, { first: current, last: current }); keys.push(key); continue; }
    if (current === g.last + 1) { g.last = current; continue; }
    result.push(formGroup(key, g.first, g.last));
    groups.set(key, { first: current, last: current });
  }
  for (const k of keys) { const g = groups.get(k)!; result.push(formGroup(k, g.first, g.last)); }
  return [...result, ...hostMappings].join(', ');
}

function joinLabels(labels: Record<string, string> | null | undefined): string {
  return Object.entries(labels ?? {}).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0).map(([k, v]) => `${k}=${v}`).join(',');
}

export const CONTAINER_HEADERS = {
  ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', CreatedAt: 'CREATED AT', RunningFor: 'CREATED',
  Ports: 'PORTS', State: 'STATE', Status: 'STATUS', Size: 'SIZE', Names: 'NAMES', Labels: 'LABELS',
  Mounts: 'MOUNTS', LocalVolumes: 'LOCAL VOLUMES', Networks: 'NETWORKS', Platform: 'PLATFORM',
  Label: (name: string) => name,
};

export function containerRow(c: ContainerSummary, trunc: boolean, now = Date.now()): Record<string, unknown> {
  const names = (c.Names ?? []).map((n) => n.replace(/^\//, ''));
  const row = {
    ID: trunc ? truncateId(c.Id) : c.Id,
    Names: (trunc ? names.filter((n) => !n.includes('/')) : names).join(','),
    Image: (() => {
      let img = c.Image || '<no image>';
      if (trunc && img.startsWith('sha256:')) img = truncateId(img);
      return img;
    })(),
    Command: JSON.stringify(trunc ? ellipsis(c.Command ?? '', 20) : c.Command ?? ''),
    CreatedAt: goTimeString(new Date(c.Created * 1000)),
    RunningFor: `${humanDuration(now - c.Created * 1000)} ago`,
    Ports: displayablePorts(c.Ports ?? []),
    State: c.State,
    Status: c.Status,
    Size: (() => {
      const srw = humanSizeWithPrecision(c.SizeRw ?? 0, 3);
      return (c.SizeRootFs ?? 0) > 0 ? `${srw} (virtual ${humanSizeWithPrecision(c.SizeRootFs!, 3)})` : srw;
    })(),
    Labels: joinLabels(c.Labels),
    LocalVolumes: String((c.Mounts ?? []).filter((m) => (m as { Driver?: string }).Driver === 'local').length),
    Mounts: (c.Mounts ?? []).map((m) => { const n = m.Name || m.Source || ''; return trunc ? ellipsis(n, 15) : n; }).join(','),
    Networks: Object.keys(c.NetworkSettings?.Networks ?? {}).sort().join(','),
    Platform: null,
  };
  return {
    ...row,
    Label: (name: string) => c.Labels?.[name] ?? '',
    toJSON: () => Object.fromEntries(Object.entries(row).sort(([a], [b]) => a < b ? -1 : 1)),
  };
}

export const IMAGE_HEADERS = {
  ID: 'IMAGE ID', Repository: 'REPOSITORY', Tag: 'TAG', Digest: 'DIGEST', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT',
  Size: 'SIZE', Containers: 'CONTAINERS', SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE', VirtualSize: 'VIRTUAL SIZE',
};

/** One row per repo:tag (dangling images as <none>:<none>), as docker images prints them. */
export function imageRows(img: ImageSummary, trunc: boolean, showDigests: boolean, now = Date.now()): Record<string, unknown>[] {
  const tags = (img.RepoTags ?? []).filter((t) => t !== '<none>:<none>');
  const digests = (img.RepoDigests ?? []).filter((d) => d !== '<none>@<none>');
  const pairs: { repo: string; tag: string; digest: string }[] = [];
  for (const t of tags) {
    const i = t.lastIndexOf(':');
    const repo = t.slice(0, i); const tag = t.slice(i + 1);
    const d = digests.find((x) => x.startsWith(`${repo}@`));
    pairs.push({ repo, tag, digest: d ? d.slice(d.indexOf('@') + 1) : '<none>' });
  }
  if (pairs.length === 0) {
    for (const d of digests) pairs.push({ repo: d.slice(0, d.indexOf('@')), tag: '<none>', digest: d.slice(d.indexOf('@') + 1) });
    if (pairs.length === 0) pairs.push({ repo: '<none>', tag: '<none>', digest: '<none>' });
  }
  void showDigests;
  return pairs.map(({ repo, tag, digest }) => {
    const row = {
      Containers: img.Containers === -1 || img.Containers === undefined ? 'N/A' : String(img.Containers),
      CreatedAt: goTimeString(new Date(img.Created * 1000)),
      CreatedSince: `${humanDuration(now - img.Created * 1000)} ago`,
      Digest: digest,
      ID: trunc ? truncateId(img.Id) : img.Id,
      Repository: repo,
      SharedSize: img.SharedSize === -1 || img.SharedSize === undefined ? 'N/A' : humanSizeWithPrecision(img.SharedSize, 4),
      Size: humanSizeWithPrecision(img.Size, 3),
      Tag: tag,
      UniqueSize: img.SharedSize === -1 || img.SharedSize === undefined ? 'N/A' : humanSizeWithPrecision(img.Size - img.SharedSize, 4),
      VirtualSize: humanSizeWithPrecision(img.VirtualSize ?? img.Size, 4),
    };
    return { ...row, toJSON: () => row };
  });
}

export const VOLUME_HEADERS = { Name: 'VOLUME NAME', Driver: 'DRIVER', Scope: 'SCOPE', Mountpoint: 'MOUNTPOINT', Labels: 'LABELS', Links: 'LINKS', Size: 'SIZE', Label: (n: string) => n };

export function volumeRow(v: Volume): Record<string, unknown> {
  const row = {
    Availability: 'N/A', Driver: v.Driver, Group: 'N/A', Labels: joinLabels(v.Labels), Links: v.UsageData ? String(v.UsageData.RefCount) : 'N/A',
    Mountpoint: v.Mountpoint, Name: v.Name, Scope: v.Scope, Size: v.UsageData && v.UsageData.Size >= 0 ? humanSizeWithPrecision(v.UsageData.Size, 3) : 'N/A', Status: 'N/A',
  };
  return { ...row, Label: (n: string) => v.Labels?.[n] ?? '', toJSON: () => row };
}

export const NETWORK_HEADERS = { ID: 'NETWORK ID', Name: 'NAME', Driver: 'DRIVER', Scope: 'SCOPE', IPv6: 'IPV6', Internal: 'INTERNAL', Labels: 'LABELS', CreatedAt: 'CREATED AT', Label: (n: string) => n };

export function networkRow(n: Network, trunc: boolean): Record<string, unknown> {
  const row = {
    CreatedAt: goTimeString(new Date(n.Created)), Driver: n.Driver, ID: trunc ? truncateId(n.Id) : n.Id,
    IPv4: 'true', IPv6: String(n.EnableIPv6), Internal: String(n.Internal), Labels: joinLabels(n.Labels), Name: n.Name, Scope: n.Scope,
  };
  return { ...row, Label: (l: string) => n.Labels?.[l] ?? '', toJSON: () => row };
}
