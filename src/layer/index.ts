/**
 * Layer store: layers unpacked once per ChainID on the union filesystem (overlayfs), and layer tars out of trees.
 *
 *   const layers = new LayerStore(`${dataRoot}/layers`, db);
 *   let parent = null;
 *   for (const [i, blob] of blobs.entries()) parent = (await layers.unpack(parent, blob, config.rootfs.diff_ids[i])).chainId;
 *   await mountOverlay(layers.lowerDirs(parent), `${c}/upper`, `${c}/work`, `${c}/merged`);   // container rootfs
 *   // a pull: layers staged at once (unpacked on worker threads as they download), committed in order
 *   const staged = layers.staging(); const feed = layers.stageOffThread(staged, diffId);
 *   await feed.write(piece, true); …; feed.end(); await feed.done;  // piece: gzip or tar bytes, transferred
 *   await layers.commit(parentChainId, [staged, …]); await layers.discard(staged);
 *   layers.tar(chainId)      // exact original layer bytes (sha256 = DiffID) for docker save (tar-split, or kept blob)
 *   layers.blob(chainId)     // the compressed blob a pulled layer came as (push re-sends it)
 *   diffTar(`${c}/upper`)    // docker commit / build step: the container's changes as a Docker layer
 *   tarDirectory(`${c}/merged`)  // docker export
 *
 * Needs root, and the `attr` package (setfattr/getfattr) for overlay opaque directories and xattrs.
 */
export { chainIdOf, chainIdsOf, childChainId, isDigest } from './chain-id.js';
export { LayerStore, LayerStaging, type LayerInfo, type LayerBlob, type LayerFeed } from './layer-store.js';
export { diffTar, tarDirectory, type TarDirectoryOptions } from './diff.js';
export { mountOverlay, unmount, isMounted, mountPoints, mountTable } from './overlay.js';
export { unpackTar, decompressed, compressionOf, PROCESS_UMASK, type UnpackResult } from './unpack.js';
export { directorySize } from './size.js';
export { WritebackCounter, closeAfterWriteback } from './writeback.js';
