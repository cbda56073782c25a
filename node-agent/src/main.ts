// loom-agent entry point.
import { ConfigError, HelpRequested, loadConfig } from './config/index.js';
import { Agent } from './agent/agent.js';
import { uninstall } from './agent/uninstall.js';
import { closeRtnl } from './podnet/index.js';
import { errorMessage, setupLogging } from './util/log.js';

async function main(): Promise<void> {
  let config;
  const argv = process.argv.slice(2);
  const uninstallMode = argv[0] === 'uninstall';
  try {
    config = loadConfig({ argv: uninstallMode ? argv.slice(1) : argv, env: process.env });
  } catch (e) {
    if (e instanceof HelpRequested) {
      process.stdout.write(e.text);
      process.exit(0);
    }
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const log = setupLogging(config.logLevel);
  if (uninstallMode) {
    try {
      await uninstall(config);
      process.exit(0);
    } catch (e) {
      log.error('uninstall failed', { error: errorMessage(e) });
      process.exit(1);
    }
  }
  const agent = new Agent(config);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('signal received, stopping', { signal });
    void agent.stop().finally(() => {
      closeRtnl();
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await agent.start();
  } catch (e) {
    log.error('loom-agent failed to start', { error: errorMessage(e) });
    await agent.stop().catch(() => undefined);
    closeRtnl();
    process.exit(1);
  }
}

void main();
