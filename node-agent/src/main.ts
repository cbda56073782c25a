// loom-agent entry point.
import { ConfigError, HelpRequested, loadConfig } from './config/index.js';
import { Agent } from './agent/agent.js';
import { closeRtnl } from './podnet/index.js';
import { errorMessage, setupLogging } from './util/log.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig({ argv: process.argv.slice(2), env: process.env });
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
