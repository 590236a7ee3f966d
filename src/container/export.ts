/** `docker export`: the container's root filesystem as one tar. */
import type { EventBus } from '../events/index.js';
import { tarDirectory } from '../layer/index.js';
import type { ContainerArchive } from './archive.js';
import type { ContainerRecord } from './types.js';
import { containerEventAttrs } from './shapes.js';

/**
 * Tars the container's root (mounted for the duration if it is not running) less the contents of
 * /proc, /sys and /dev, hands the stream to `sink` (which resolves once it has consumed or given up
 * on it), then emits the `export` event.
 */
export async function exportContainer(
  archive: ContainerArchive, events: EventBus, c: ContainerRecord,
  sink: (tar: NodeJS.ReadableStream) => Promise<void>,
): Promise<void> {
  await archive.withRoot(c, async (root) => {
    const t = tarDirectory(root, { filter: (p: string) => !/^\.?\/?(proc|sys|dev)\/./.test(p) } as any) as NodeJS.ReadableStream;
    await sink(t);
  });
  events.emit('container', 'export', c.Id, containerEventAttrs(c));
}
