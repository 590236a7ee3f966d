/**
 * Network service: bridge networks, IPAM, container namespaces, embedded DNS, published ports.
 *
 * Shape of the kernel state one daemon (instance tag T, from NetworkServiceOptions.instanceId) makes:
 * - bridges: the default one (options.bridgeName, options.bip) and `br-<network id 12>` per user
 *   network (or com.docker.network.bridge.name), gateway address on the bridge, route_localnet=1;
 * - a namespace `berth-T-<container id 12>` per container in bridge/none mode (/var/run/netns),
 *   veth `ve<T4><hex>` on the host side, eth0, eth1… inside (peer created in the namespace, one
 *   batched `ip` process per side; a container's namespace is made in the host batch of its first
 *   veth), MAC 02:42:<ip>, default route via the first non-internal network;
 * - iptables chains BERTH-T-FWD/-OUT/-IN (filter) and BERTH-T-DNAT/-POST (nat), see firewall.ts;
 * - one UDP DNS server per user network on <gateway>:53 in the daemon (see dns-server.ts);
 *   containers get that address as nameserver; each server answers a client for all the networks
 *   the client is on, and a connect/disconnect re-points a running container's resolv.conf at a
 *   user network it is still on (NetworkService.refreshedResolvConf) — Docker's 127.0.0.11 without
 *   per-namespace NAT rules;
 * - a held listening socket per published host port (see port-reservations.ts); traffic is DNAT-ed
 *   by the kernel (see the note at the top of network-service.ts for the measurements).
 * State lives in SQLite tables network_networks, network_endpoints, network_sandboxes, network_ipam*.
 *
 * The container service uses it through ServiceNetworking (setUp/tearDown of a container record);
 * the Engine API's /networks routes call NetworkService directly.
 */
export { NetworkService } from './network-service.js';
export type { NetworkServiceOptions, SandboxMode, EndpointSettings, PortMap, AddressPool } from './network-service.js';
export { ServiceNetworking } from './container-networking.js';
export type { NetworkedContainer, ContainerNetworkingOptions, ConfiguredNetwork } from './container-networking.js';
