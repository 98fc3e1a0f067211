// A benchmark's command line, read one way by every script under bench/: `--name value` options and `--flag`s.
// A one-letter name may also be written `-n` (bench/crash.ts's `-n 500`).

export function cliArgs(argv: string[] = process.argv.slice(2)) {
  const at = (name: string) => argv.findIndex((x) => x === `--${name}` || (name.length === 1 && x === `-${name}`));
  return {
    /** The option's value; without a fallback the option is required. */
    get(name: string, fallback?: string): string {
      const i = at(name);
      if (i >= 0 && argv[i + 1] !== undefined) return argv[i + 1];
      if (fallback === undefined) throw new Error(`--${name} is required`);
      return fallback;
    },
    has: (name: string) => at(name) >= 0,
  };
}
