/** Thrown by loadConfig with every problem found, not just the first. */
export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(
      `invalid Loom agent configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  - ${p}`).join('\n') +
        '\nFix the values above (run loom-agent --help for every option and its default).',
    );
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Thrown by loadConfig when argv holds --help; `text` is what to print (then exit 0). */
export class HelpRequested extends Error {
  readonly text: string;
  constructor(text: string) {
    super('help requested');
    this.name = 'HelpRequested';
    this.text = text;
  }
}
