export { ContentStore, assertDigest } from './content-store.js';
export { ImageStore, normaliseContainerConfig } from './image-store.js';
export type { ImageConfig, ImageRecord, ImageUsage } from './image-store.js';
export { ImageArchive } from './image-archive.js';
export { ingestLayer } from './layer-ingest.js';
export { parseReference, familiarName, familiarTagged, looksLikeImageId } from './reference.js';
export type { Reference } from './reference.js';
export { applyChanges } from './changes.js';
export { HOST_ARCH, HOST_OS } from './platform.js';
