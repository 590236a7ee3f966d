/** The Go type dockerd decodes a volumes/create body into, as a table for the JSON type check. */
import { checkJson, str, stringMap, struct } from '../errors/json-types.js';

const volumeCreate = struct('volume.CreateOptions', ['CreateOptions', { Name: str, Driver: str, DriverOpts: stringMap, Labels: stringMap }]);

/** Throws InvalidParameterError (400) with encoding/json's message when a field has the wrong JSON type. */
export function validateVolumeCreate(body: unknown): void { checkJson(body, volumeCreate); }
