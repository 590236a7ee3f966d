/** The services the API translates to; the daemon assembles them. */
import type { ContainerService } from '../container/index.js';
import type { ExecService } from '../container/exec.js';
import type { VolumeService } from '../volume/index.js';
import type { EventBus } from '../events/index.js';
import type { ImageArchive, ImageStore } from '../image/index.js';
import type { DistributionService } from '../distribution/index.js';

export interface EngineInfo {
  id: string;
  name: string;
  dataRoot: string;
  execRoot: string;
  runtime: string;
  startedAt: number;
  version: string;
  cgroupVersion: '1' | '2';
  /** The OCI runtime's and the --init binary's versions (`--version`), read when first asked; empty when unknown. */
  componentVersions(): Promise<{ runtime: ToolVersion; init: ToolVersion | undefined }>;
}

export interface ToolVersion { version: string; commit: string }

export interface Engine {
  info: EngineInfo;
  images: ImageStore;
  archive: ImageArchive;
  containers: ContainerService;
  events: EventBus;
  execs?: ExecService;
  volumes?: VolumeService;
  distribution?: DistributionService;
  /** `GET /system/df`, in Docker's shape. */
  diskUsage(): Promise<Record<string, unknown>>;
}
