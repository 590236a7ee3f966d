/** Joins the network service to the container service's ContainerNetworking interface. */
import type { ContainerNetworking, ContainerRecord } from '../container/index.js';
import { ServiceNetworking, type NetworkService } from '../network/index.js';

export class EngineNetworking implements ContainerNetworking {
  private readonly adapter: ServiceNetworking;

  constructor(private readonly networks: NetworkService, resolveContainer: (ref: string) => { Id: string; Name: string } | undefined) {
    this.adapter = new ServiceNetworking(networks, { resolveContainer });
  }

  setUp(c: ContainerRecord) { return this.adapter.setUp(c); }
  tearDown(c: ContainerRecord) { return this.adapter.tearDown(c); }

  async connect(c: ContainerRecord, network: string, cfg: Record<string, any>): Promise<Record<string, any>> {
    await this.networks.connect(c.Id, c.Name, network, { Aliases: cfg.Aliases, IPAMConfig: cfg.IPAMConfig, MacAddress: cfg.MacAddress });
    return this.adapter.settings(c.Id);
  }

  async disconnect(c: ContainerRecord, network: string, force: boolean): Promise<Record<string, any>> {
    await this.networks.disconnect(c.Id, network, force);
    return this.adapter.settings(c.Id);
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
      try { id = this.networks.inspect(n).Id; } catch { continue; }
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
