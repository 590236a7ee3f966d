/** Network service: bridge networks, IPAM, container namespaces, embedded DNS, published ports. */
export { NetworkService } from './network-service.js';
export type { NetworkServiceOptions, SandboxMode, EndpointSettings, PortMap, AddressPool } from './network-service.js';
export { ServiceNetworking } from './container-networking.js';
export type { NetworkedContainer, ContainerNetworkingOptions } from './container-networking.js';
