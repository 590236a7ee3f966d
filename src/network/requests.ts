/**
 * The Go types dockerd decodes network request bodies into (networks/create, connect, disconnect),
 * as tables for the JSON type check; an endpoint's settings are also a container create's.
 */
import { arrayOf, bool, checkJson, goInt, str, stringMap, strings, struct } from '../errors/json-types.js';

export const endpointSettings = struct('network.EndpointSettings', ['EndpointSettings', {
  IPAMConfig: struct('network.EndpointIPAMConfig', ['EndpointIPAMConfig', { IPv4Address: str, IPv6Address: str, LinkLocalIPs: strings }]),
  Links: strings, Aliases: strings, MacAddress: str, DriverOpts: stringMap, GwPriority: goInt,
  NetworkID: str, EndpointID: str, Gateway: str, IPAddress: str, IPPrefixLen: goInt,
  IPv6Gateway: str, GlobalIPv6Address: str, GlobalIPv6PrefixLen: goInt, DNSNames: strings,
}]);

const ipam = struct('network.IPAM', ['IPAM', {
  Driver: str, Options: stringMap,
  Config: arrayOf(struct('network.IPAMConfig', ['IPAMConfig', { Subnet: str, IPRange: str, Gateway: str, AuxiliaryAddresses: stringMap }])),
}]);

const networkCreate = struct('types.NetworkCreateRequest', ['NetworkCreateRequest', {
  Name: str, Driver: str, Scope: str, EnableIPv4: bool, EnableIPv6: bool, IPAM: ipam, Internal: bool, Attachable: bool,
  Ingress: bool, ConfigOnly: bool, ConfigFrom: struct('network.ConfigReference', ['ConfigReference', { Network: str }]),
  Options: stringMap, Labels: stringMap, CheckDuplicate: bool,
}]);

const networkConnect = struct('types.NetworkConnect', ['NetworkConnect', { Container: str, EndpointConfig: endpointSettings }]);
const networkDisconnect = struct('types.NetworkDisconnect', ['NetworkDisconnect', { Container: str, Force: bool }]);

/** Throws InvalidParameterError (400) with encoding/json's message when a field has the wrong JSON type. */
export function validateNetworkCreate(body: unknown): void { checkJson(body, networkCreate); }
export function validateNetworkConnect(body: unknown): void { checkJson(body, networkConnect); }
export function validateNetworkDisconnect(body: unknown): void { checkJson(body, networkDisconnect); }
