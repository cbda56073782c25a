import { FIELDS, envName, fieldDefault, flagName } from './fields.js';

/** Usage text listing every option with its env variable and default. */
export function helpText(): string {
  const lines = [
    'Usage: loom-agent [--config PATH] [--OPTION VALUE | --OPTION=VALUE]...',
    '',
    'Precedence: defaults < config file (YAML or JSON, camelCase fields) < env LOOM_<FIELD> < flags.',
    '',
    '  --config PATH  (env LOOM_CONFIG)  config file to read',
    '  --help         print this text',
    '',
  ];
  for (const field of FIELDS) {
    const fallback = fieldDefault(field);
    const shown = fallback === undefined ? (field.name === 'nodeName' ? 'required; env NODE_NAME' : 'unset') : `default ${JSON.stringify(fallback)}`;
    const flag = field.kind === 'boolean' ? `${flagName(field)}[=true|false], --no-${flagName(field).slice(2)}` : `${flagName(field)} VALUE`;
    lines.push(`  ${flag}  (env ${envName(field)}; ${shown})`, `      ${field.description}; ${field.expected}`);
  }
  return lines.join('\n') + '\n';
}
