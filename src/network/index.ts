/** Network service: bridge networks, IPAM, container namespaces, embedded DNS, published ports. */
export { NetworkService } from './network-service.js';
export type { NetworkServiceOptions, SandboxMode, EndpointSettings, PortMap, AddressPool } from './network-service.js';
