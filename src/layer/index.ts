/** Layer store: layers unpacked once per ChainID on the union filesystem (overlayfs), and layer tars out of trees. */
export { chainIdOf, chainIdsOf, childChainId, isDigest } from './chain-id.js';
export { LayerStore, type LayerInfo } from './layer-store.js';
export { diffTar, tarDirectory, type TarDirectoryOptions } from './diff.js';
export { mountOverlay, unmount, isMounted } from './overlay.js';
export { unpackTar, type UnpackResult } from './unpack.js';
