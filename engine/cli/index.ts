// `rxflow <command>` — the operator's CLI (docs/operations.md). The ./rxflow wrapper runs this file with
// the project's Node. Exit codes: 0 done, 1 failed or refused, 2 bad usage (and `verify`, not built yet).
import { benchCommand, stackCommand, verifyCommand } from './delegate';
import { reindexCommand, seedCommand } from './catalogue';
import { inspectCommand } from './inspect';
import { stuckCommand } from './stuck';
import { cancelCommand, retryCommand } from './operate';
import { CommandError, Ctx, EXIT, UsageError, type Command } from './common';

export const COMMANDS: Command[] = [stackCommand, seedCommand, reindexCommand, inspectCommand, stuckCommand, cancelCommand, retryCommand, benchCommand, verifyCommand];

export function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `usage: rxflow <command> [options]

commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}
  ${'help'.padEnd(width)}  this text; rxflow help <command> (or rxflow <command> --help) for one command

The services are those of the engine's environment: DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
ELASTICSEARCH_URL, RX_INDEX_PREFIX, RX_TASK_QUEUE, TEMPORAL_UI_URL, and the timings (RX_REVIEW_SLA_MS, …).
Most commands take --json. Exit codes: 0 done, 1 failed or refused, 2 bad usage. RX_DEBUG=1 prints stacks.`;
}

const isHelp = (a: string | undefined) => a === '--help' || a === '-h' || a === 'help';

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(`rxflow: no command\n\n${usage()}\n`);
    return EXIT.usage;
  }
  if (isHelp(name)) {
    if (rest[0] === undefined) { process.stdout.write(`${usage()}\n`); return EXIT.ok; }
    const cmd = COMMANDS.find((c) => c.name === rest[0]);
    if (!cmd) { process.stderr.write(`rxflow: no command "${rest[0]}"; rxflow help lists them\n`); return EXIT.usage; }
    process.stdout.write(`${cmd.help}\n`);
    return EXIT.ok;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`rxflow: unknown command "${name}"; rxflow help lists the commands\n`);
    return EXIT.usage;
  }
  // `bench <script> --help` is the script's help, not bench's.
  if (rest.some((a) => a === '--help' || a === '-h') && !(cmd.name === 'bench' && rest[0] && !isHelp(rest[0]))) {
    process.stdout.write(`${cmd.help}\n`);
    return EXIT.ok;
  }
  const ctx = new Ctx();
  try {
    return await cmd.run(rest, ctx);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`rxflow ${cmd.name}: ${e.message}\n${cmd.help.split('\n')[0]}\n`);
      return EXIT.usage;
    }
    if (e instanceof CommandError) {
      process.stderr.write(`rxflow ${cmd.name}: ${e.message}\n`);
      return e.code;
    }
    process.stderr.write(`rxflow ${cmd.name}: failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}\n`);
    if (process.env.RX_DEBUG) console.error(e);
    return EXIT.failed;
  } finally {
    await ctx.close();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
    process.stderr.write(`rxflow: ${(e as Error).message}\n`);
    process.exit(EXIT.failed);
  });
}
