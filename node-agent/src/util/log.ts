// Structured JSON logs (winston). Every component gets a child logger with its name; callers add
// pod/policy names as fields, never inside free text only.
import winston from 'winston';

export type Logger = winston.Logger;

let root: winston.Logger | undefined;

export function setupLogging(level: string): winston.Logger {
  root = winston.createLogger({
    level,
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: false }), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] })],
  });
  return root;
}

export function logger(component: string): winston.Logger {
  if (!root) root = setupLogging(process.env.LOOM_LOG_LEVEL ?? 'info');
  return root.child({ component });
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
