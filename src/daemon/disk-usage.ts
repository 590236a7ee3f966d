/**
 * `GET /system/df`: what images, containers and volumes take on disk, in Docker's shape. Layers
 * shared between images count once in LayersSize and as SharedSize of each image that has them;
 * a container's size is its read/write layer; a volume's is the sum of its files' sizes.
 */
import { listShape, type ContainerService } from '../container/index.js';
import type { ImageStore } from '../image/index.js';
import type { VolumeService } from '../volume/index.js';

export async function diskUsage(images: ImageStore, containers: ContainerService, volumes: VolumeService): Promise<Record<string, unknown>> {
  const listed = images.listed();
  const all = containers.list();
  const [sizes, configs, vols] = await Promise.all([
    Promise.all(all.map((c) => containers.sizeOf(c))),
    Promise.all(listed.map((i) => images.config(i.id).catch(() => undefined))),
    Promise.all(volumes.list().map(async (v) => ({ ...volumes.inspectShape(v), UsageData: await volumes.usageData(v.Name) }))),
  ]);
  const usage = images.diskUsage();
  return {
    LayersSize: usage.layersSize,
    Images: listed.map((i, n) => ({
      Id: i.id, ParentId: i.parent ?? '', RepoTags: i.repoTags, RepoDigests: i.repoDigests, Created: Math.floor(Date.parse(i.created) / 1000),
      Size: i.size, SharedSize: usage.sharedSize.get(i.id) ?? 0, VirtualSize: i.size, Labels: configs[n]?.config?.Labels ?? {},
      Containers: all.filter((c) => c.ImageId === i.id).length,
    })),
    Containers: all.map((c, n) => listShape(c, sizes[n], containers.imageShown(c))),
    Volumes: vols,
    BuildCache: [],
  };
}
