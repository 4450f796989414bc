#!/usr/bin/env node
/**
 * The `web-record` command.
 */
import { describeCommand, describeUsage, listCommand, listUsage } from './client.js';
import { doctor, doctorUsage } from './doctor.js';
import { record, recordUsage } from './record.js';
import { serve, serveUsage } from './serve.js';
import { UsageError } from './util.js';

const usage = `Usage: web-record <command> [options]

Commands:
  record <url> --out FILE   record a page to a file (see web-record record --help)
  serve                     serve the Action endpoint (see web-record serve --help)
  describe <taskId> --url   show one task of a running endpoint
  list --url                list the tasks of a running endpoint
  doctor                    check this machine (browser, ffmpeg, capture mode, Redis, storage, disk)

Run web-record <command> --help for a command's options and examples.

Exit codes: 0 success, 1 the task failed, 2 bad usage.`;

const commands: Record<string, { run: (argv: string[]) => Promise<number>; usage: string }> = {
  record: { run: record, usage: recordUsage },
  serve: { run: serve, usage: serveUsage },
  describe: { run: describeCommand, usage: describeUsage },
  list: { run: listCommand, usage: listUsage },
  doctor: { run: doctor, usage: doctorUsage },
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    console.log(usage);
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    console.error(`web-record: unknown command "${name}"\n\n${usage}`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`web-record ${name}: ${(err as Error).message}\n\n${command.usage}`);
      return 2;
    }
    console.error(`web-record ${name}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
