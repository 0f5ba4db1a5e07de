import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';

// The only module with side effects: configuration, the app, and the signals that stop it.
try {
  const config = loadConfig(process.env);
  const app = await buildApp({ config });
  // Signals are handled from here on: one that arrives while the app starts (migrations, the pod
  // cache's first sync) stops it once started, within the same deadline.
  const starting = app.start();
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`received ${signal}, shutting down\n`);
    // The whole shutdown fits in SHUTDOWN_TIMEOUT_SECONDS (Kubernetes kills at its grace period).
    setTimeout(() => {
      process.stderr.write(`shutdown did not finish within ${config.shutdownTimeoutSeconds} s; exiting\n`);
      process.exit(1);
    }, config.shutdownTimeoutSeconds * 1000).unref();
    starting
      .catch(() => undefined)
      .then(() => app.stop())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          process.stderr.write(`shutdown failed: ${String(err)}\n`);
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await starting;
} catch (err) {
  process.stderr.write(`${err instanceof ConfigError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}
