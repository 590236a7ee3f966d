/**
 * The container service's view of networking (its `ContainerNetworking` interface, matched
 * structurally so this folder does not depend on src/container): turns a container record's
 * HostConfig/NetworkingConfig into a sandbox, endpoints, published ports, /etc/hosts and
 * /etc/resolv.conf, in Docker's NetworkSettings shape.
 */
import { closeSync, constants, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { InvalidParameterError } from '../errors/index.js';
import type { EndpointSettings, NetworkService, PortMap, SandboxMode } from './network-service.js';

/** The parts of a container record networking reads. */
export interface NetworkedContainer {
  Id: string;
  Name: string;
  Config: Record<string, any>;
  HostConfig: Record<string, any>;
  NetworkingConfig?: Record<string, any>;
}

/** What configure yields: NetworkSettings, and the contents of the container's /etc/hosts and /etc/resolv.conf. */
export interface ConfiguredNetwork { settings: Record<string, any>; hosts: string; resolvConf: string }

export interface ContainerNetworkingOptions {
  /** Resolves a container reference (name, ID or prefix) to its full ID, for container:<ref> and links. */
  resolveContainer?: (ref: string) => { Id: string; Name: string } | undefined;
}

export class ServiceNetworking {
  constructor(private readonly svc: NetworkService, private readonly o: ContainerNetworkingOptions = {}) {}

  /** prepare, then configure: the whole network of a container, for callers with nothing to overlap. */
  async setUp(c: NetworkedContainer): Promise<{ netnsPath: string | null | 'host' } & ConfiguredNetwork> {
    const { netnsPath } = await this.prepare(c);
    try {
      return { netnsPath, ...(await this.configure(c)) };
    } catch (err) {
      await this.svc.releaseSandbox(c.Id).catch(() => undefined);
      throw err;
    }
  }

  /**
   * First half of a start: the sandbox and its namespace exist (what the runtime joins), nothing
   * in it yet — one `ip` process for a bridge-mode container. The endpoints come with configure,
   * which may run while the runtime creates the container (its process runs only once started).
   */
  async prepare(c: NetworkedContainer): Promise<{ netnsPath: string | null | 'host' }> {
    const { mode } = this.modeOf(c);
    const { netnsPath } = await this.svc.createSandbox(c.Id, mode);
    return { netnsPath: mode === 'host' ? 'host' : netnsPath };
  }

  /**
   * Second half (after prepare): endpoints, published ports, and the contents of /etc/hosts and
   * /etc/resolv.conf. On failure the caller releases the sandbox (tearDown), once the runtime let go of it.
   */
  async configure(c: NetworkedContainer): Promise<ConfiguredNetwork> {
    const h = c.HostConfig ?? {};
    const { modeText, primary } = this.modeOf(c);
    const endpoints: Record<string, any> = { ...(c.NetworkingConfig?.EndpointsConfig ?? {}) };
    if (modeText === 'host' || modeText === 'none') {
      await this.svc.connect(c.Id, c.Name, modeText, {});
    } else if (primary) {
      // EndpointsConfig may name the primary network by name while NetworkMode has its ID (or
      // the reverse): compare by ID so each network is joined once, the primary first.
      const primaryId = this.svc.networkId(primary);
      const cfgFor = (id: string) => Object.entries(endpoints).find(([k]) => this.idOf(k === 'default' ? 'bridge' : k) === id)?.[1];
      const order = [primaryId, ...new Set(Object.keys(endpoints).map((k) => this.svc.networkId(k === 'default' ? 'bridge' : k)))].filter((id, i, a) => a.indexOf(id) === i);
      for (const net of order) {
        const cfg = cfgFor(net) ?? {};
        await this.svc.connect(c.Id, c.Name, net, {
          Aliases: cfg.Aliases, IPAMConfig: cfg.IPAMConfig,
          MacAddress: cfg.MacAddress || (net === primaryId ? c.Config?.MacAddress : undefined),
        });
      }
      const bindings: Record<string, { HostIp?: string; HostPort?: string }[]> = { ...(h.PortBindings ?? {}) };
      if (h.PublishAllPorts) {
        for (const p of Object.keys(c.Config?.ExposedPorts ?? {})) if (!bindings[p]?.length) bindings[p] = [{ HostIp: '', HostPort: '' }];
      }
      if (Object.keys(bindings).length) await this.svc.publishPorts(c.Id, bindings);
    }
    const links = (h.Links ?? []).map((l: string) => {
      // "name:alias" or "/name:/container/alias" (the form Docker stores).
      const [ref, alias] = l.split(':');
      const target = this.o.resolveContainer?.(ref.replace(/^\//, ''));
      return target ? { alias: alias.split('/').pop()!, containerId: target.Id, containerName: target.Name } : null;
    }).filter(Boolean);
    const hosts = this.svc.hostsFileFor(c.Id, {
      hostname: c.Config?.Hostname, domainname: c.Config?.Domainname, extraHosts: h.ExtraHosts, links,
    });
    const resolvConf = this.svc.resolvConfFor(c.Id, { dns: h.Dns, dnsSearch: h.DnsSearch, dnsOptions: h.DnsOptions });
    return { settings: this.settings(c.Id), hosts, resolvConf };
  }

  private modeOf(c: NetworkedContainer): { mode: SandboxMode; modeText: string; primary: string | null } {
    const modeText: string = c.HostConfig?.NetworkMode || 'default';
    if (modeText === 'host' || modeText === 'none') return { mode: modeText, modeText, primary: null };
    if (modeText.startsWith('container:')) {
      const ref = modeText.slice('container:'.length);
      const target = this.o.resolveContainer ? this.o.resolveContainer(ref) : { Id: ref, Name: ref };
      if (!target) throw new InvalidParameterError(`No such container: ${ref}`);
      return { mode: { container: target.Id }, modeText, primary: null };
    }
    return { mode: 'bridge', modeText, primary: modeText === 'default' ? 'bridge' : modeText };
  }

  private idOf(ref: string): string | undefined {
    try { return this.svc.networkId(ref); } catch { return undefined; }
  }

  async tearDown(c: { Id: string }): Promise<void> {
    // The namespace goes in the background: a container's exit (and `run --rm`) need not wait for it.
    await this.svc.releaseSandbox(c.Id, { background: true });
  }

  /**
   * After a running container joined or left a network: points its /etc/resolv.conf at embedded
   * DNS it can still reach (see NetworkService.refreshedResolvConf). `path` is the host side of the
   * container's bind-mounted file; it is rewritten in place (same inode — a renamed file would not
   * be what the bind mount shows). Returns whether the file changed; a missing file is no error.
   */
  refreshResolvConf(c: NetworkedContainer, path: string): boolean {
    let fd: number;
    try { fd = openSync(path, constants.O_RDWR | constants.O_NOFOLLOW); } catch { return false; }
    try {
      const buf = Buffer.alloc(Math.min(fstatSync(fd).size, 1 << 20));
      const n = readSync(fd, buf, 0, buf.length, 0);
      const next = this.svc.refreshedResolvConf(c.Id, buf.subarray(0, n).toString('utf8'), { dns: c.HostConfig?.Dns });
      if (next === null) return false;
      const out = Buffer.from(next);
      ftruncateSync(fd, 0);
      writeSync(fd, out, 0, out.length, 0);
      return true;
    } finally {
      closeSync(fd);
    }
  }

  /** Containers sharing this container's namespace (`--network container:`), whose files follow it. */
  namespaceSharers(containerId: string): string[] { return this.svc.namespaceSharers(containerId); }

  /** NetworkSettings as Docker reports it; top-level address fields come from the default bridge. */
  settings(containerId: string): Record<string, any> {
    const s = this.svc.networkSettings(containerId);
    const b: Partial<EndpointSettings> = s.Networks.bridge ?? {};
    return {
      Bridge: '', SandboxID: s.SandboxKey ? containerId : '', SandboxKey: s.SandboxKey, Ports: s.Ports as PortMap,
      HairpinMode: false, LinkLocalIPv6Address: '', LinkLocalIPv6PrefixLen: 0, SecondaryIPAddresses: null, SecondaryIPv6Addresses: null,
      EndpointID: b.EndpointID ?? '', Gateway: b.Gateway ?? '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0,
      IPAddress: b.IPAddress ?? '', IPPrefixLen: b.IPPrefixLen ?? 0, IPv6Gateway: '', MacAddress: b.MacAddress ?? '',
      Networks: s.Networks,
    };
  }
}
