/** The container record persisted in the metadata DB, and Docker's state vocabulary. */
export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface ContainerState {
  Status: ContainerStatus;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  OOMKilled: boolean;
  MonitorPid?: number;
  Health?: { Status: string; FailingStreak: number; Log: unknown[] };
}

export interface ContainerRecord {
  Id: string;
  Name: string;               // without the leading slash
  Created: string;
  ImageId: string;
  Config: Record<string, any>;
  HostConfig: Record<string, any>;
  Path: string;
  Args: string[];
  State: ContainerState;
  RestartCount: number;
  NetworkSettings?: Record<string, any>;
  /** Requested endpoints, as in the create request's NetworkingConfig. */
  NetworkingConfig?: Record<string, any>;
  Mounts?: Record<string, any>[];
  ManuallyStopped?: boolean;
  /** Exited, its runtime state, network and root not yet released (done again at start-up after a crash). */
  PendingRelease?: boolean;
  Platform: string;
}

export const ZERO_TIME = '0001-01-01T00:00:00Z';
