/** Joins the network service to the container service's ContainerNetworking interface. */
import { join } from 'node:path';
import type { ContainerNetworking, ContainerRecord } from '../container/index.js';
import { ServiceNetworking, type NetworkService } from '../network/index.js';

export interface EngineNetworkingOptions {
  /**
   * Host-side path of a container's /etc/resolv.conf (the file bind-mounted into it). Default:
   * <data root>/containers/<id>/resolv.conf, the container service's layout.
   */
  resolvConfPath?: (containerId: string) => string;
}

type ContainerRef = { Id: string; Name: string; HostConfig?: Record<string, any> };

export class EngineNetworking implements ContainerNetworking {
  private readonly adapter: ServiceNetworking;
  private readonly resolvConfPath: (containerId: string) => string;

  constructor(private readonly networks: NetworkService, private readonly resolveContainer: (ref: string) => ContainerRef | undefined,
    o: EngineNetworkingOptions = {}) {
    this.adapter = new ServiceNetworking(networks, { resolveContainer });
    this.resolvConfPath = o.resolvConfPath ?? ((id) => join(networks.dataRoot, 'containers', id, 'resolv.conf'));
  }

  prepare(c: ContainerRecord) { return this.adapter.prepare(c); }
  configure(c: ContainerRecord) { return this.adapter.configure(c); }
  tearDown(c: ContainerRecord) { return this.adapter.tearDown(c); }
  hasSandbox(id: string): boolean { return this.networks.hasSandbox(id); }

  async connect(c: ContainerRecord, network: string, cfg: Record<string, any>): Promise<Record<string, any>> {
    await this.networks.connect(c.Id, c.Name, network, { Aliases: cfg.Aliases, IPAMConfig: cfg.IPAMConfig, MacAddress: cfg.MacAddress });
    this.refreshResolvConf(c);
    return this.adapter.settings(c.Id);
  }

  async disconnect(c: ContainerRecord, network: string, force: boolean): Promise<Record<string, any>> {
    await this.networks.disconnect(c.Id, network, force);
    this.refreshResolvConf(c);
    return this.adapter.settings(c.Id);
  }

  /**
   * A container's nameserver is one of its user networks' embedded DNS: after a connect or
   * disconnect it is moved to one the container is still on (also for containers sharing its
   * namespace), so removing the old network does not take name resolution with it.
   */
  private refreshResolvConf(c: ContainerRecord): void {
    const targets: ContainerRef[] = [c, ...this.networks.namespaceSharers(c.Id).map((id) => this.resolveContainer(id)).filter((x): x is ContainerRef => !!x)];
    for (const t of targets) {
      // The network change itself succeeded; a file that cannot be rewritten must not fail it.
      try {
        this.adapter.refreshResolvConf({ Id: t.Id, Name: t.Name, Config: {}, HostConfig: t.HostConfig ?? {} }, this.resolvConfPath(t.Id));
      } catch { /* left as it was */ }
    }
  }

  networkName(ref: string): string { return this.networks.inspect(ref).Name; }

  planned(c: ContainerRecord): Record<string, any> {
    const mode: string = c.HostConfig.NetworkMode || 'bridge';
    if (mode.startsWith('container:')) return {};
    const primary = mode === 'default' ? 'bridge' : mode;
    const eps: Record<string, any> = { ...(c.NetworkingConfig?.EndpointsConfig ?? {}) };
    const names = [primary, ...Object.keys(eps).filter((n) => n !== primary)];
    const out: Record<string, any> = {};
    for (const n of names) {
      let id = '';
      try { id = this.networks.networkId(n); } catch { continue; }   // not inspect: that lists every endpoint
      const cfg = eps[n] ?? {};
      out[n] = {
        IPAMConfig: cfg.IPAMConfig ?? null, Links: null, Aliases: cfg.Aliases ?? null, MacAddress: '', DriverOpts: null,
        NetworkID: id, EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, IPv6Gateway: '', GlobalIPv6Address: '',
        GlobalIPv6PrefixLen: 0, DNSNames: null,
      };
    }
    return out;
  }
}
