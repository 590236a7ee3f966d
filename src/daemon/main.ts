/** Entry point of bin/berthd. */
import { Daemon } from './daemon.js';
import { parseDaemonOptions } from './options.js';

export async function main(argv: string[]): Promise<void> {
  let opts;
  try { opts = parseDaemonOptions(argv); } catch (e) {
    process.stderr.write(`berthd: ${(e as Error).message}\n`);
    process.exit(1);
  }
  const daemon = new Daemon(opts);
  let stopping = false;
  const shutdown = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`berthd: ${sig} received, shutting down\n`);
    const force = setTimeout(() => process.exit(1), 60_000);
    force.unref();
    try { await daemon.stop(); } catch (e) { process.stderr.write(`berthd: shutdown: ${(e as Error).message}\n`); }
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGPIPE', () => undefined);
  process.on('uncaughtException', (e) => { process.stderr.write(`berthd: uncaught: ${e.stack ?? e}\n`); });
  process.on('unhandledRejection', (e) => { process.stderr.write(`berthd: unhandled rejection: ${(e as Error)?.stack ?? e}\n`); });
  try {
    await daemon.start();
  } catch (e) {
    process.stderr.write(`berthd: failed to start: ${(e as Error).message}\n`);
    process.exit(1);
  }
}
