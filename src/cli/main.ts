#!/usr/bin/env node
/** The vmbootfail command. The only module that prints or exits. */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { capabilities } from '../capabilities.js';
import { type DiskInspection, DiskInspector } from '../disk/inspector.js';
import { VmbootfailError } from '../errors.js';
import { buildSampleDisks } from '../samples/sample-disks.js';
import { ExitCode, type ExitCodeValue, exitCodeForError } from './exit-codes.js';
import { formatDiskInspection } from './format-disk.js';

const JSON_SCHEMA_VERSION = 1;

interface InspectOptions {
  json?: boolean;
  samples?: string | boolean;
}

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

async function inspectCommand(targets: string[], options: InspectOptions): Promise<ExitCodeValue> {
  const inspector = new DiskInspector();
  const disks: { path: string; note?: string }[] = targets.map((t) => ({ path: t }));
  if (options.samples !== undefined && options.samples !== false) {
    const dir =
      typeof options.samples === 'string'
        ? options.samples
        : await mkdtemp(path.join(os.tmpdir(), 'vmbootfail-samples-'));
    const built = await buildSampleDisks(dir);
    disks.push(...built.map((s) => ({ path: s.path, note: s.description })));
  }
  if (disks.length === 0) {
    throw new VmbootfailError('nothing to inspect: give disk images or block devices, or --samples', {
      code: 'ERR_INVALID_ARGUMENT',
    });
  }
  const results: (DiskInspection | { path: string; error: { code: string; message: string } })[] = [];
  let worst: ExitCodeValue = ExitCode.OK;
  for (const disk of disks) {
    try {
      const inspection = await inspector.inspect(disk.path);
      results.push(inspection);
      if (inspection.findings.length > 0 && worst === ExitCode.OK) worst = ExitCode.FAULT_PREDICTED;
      if (!options.json) {
        if (disk.note) print(`# ${disk.note}`);
        print(formatDiskInspection(inspection));
        print('');
      }
    } catch (error) {
      if (!(error instanceof VmbootfailError)) throw error;
      results.push({ path: disk.path, error: { code: error.code, message: error.message } });
      // An error outranks a fault; the first error decides.
      if (worst === ExitCode.OK || worst === ExitCode.FAULT_PREDICTED) worst = exitCodeForError(error.code);
      if (!options.json) print(`${disk.path}: ERROR ${error.code}: ${error.message}\n`);
    }
  }
  if (options.json) {
    print(
      JSON.stringify({ schemaVersion: JSON_SCHEMA_VERSION, command: 'inspect', disks: results }, null, 2),
    );
  }
  return worst;
}

async function capabilitiesCommand(options: { json?: boolean }): Promise<ExitCodeValue> {
  const caps = await capabilities();
  if (options.json) {
    print(JSON.stringify({ schemaVersion: JSON_SCHEMA_VERSION, command: 'capabilities', ...caps }, null, 2));
  } else {
    for (const [name, cap] of Object.entries(caps)) {
      print(`${name.padEnd(15)} ${cap.available ? 'yes' : 'no '} ${cap.reason ?? ''}`.trimEnd());
    }
  }
  return ExitCode.OK;
}

function buildProgram(setExit: (code: ExitCodeValue) => void): Command {
  const program = new Command('vmbootfail')
    .description('Notice within seconds that a new Xen VM fails to boot, and name the virtual-disk cause.')
    .exitOverride()
    .showHelpAfterError();
  program
    .command('inspect')
    .description('inspect disk images or block devices without booting anything')
    .argument('[disks...]', 'disk image files or block devices (e.g. /dev/loop6)')
    .addOption(
      new Option(
        '--samples [dir]',
        'build the sample faulty disks (into dir, default a temp dir) and inspect them',
      ),
    )
    .option('--json', 'print JSON (schemaVersion 1) instead of text')
    .addHelpText(
      'after',
      `
Exit codes: 0 no fault, 2 bad input, 3 environment error, 4 fault found.`,
    )
    .action(async (disks: string[], opts: InspectOptions) => setExit(await inspectCommand(disks, opts)));
  program
    .command('capabilities')
    .description('show what this host can do (libraries, xenstored, dom0)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => setExit(await capabilitiesCommand(opts)));
  return program;
}

async function main(argv: string[]): Promise<ExitCodeValue> {
  let exitCode: ExitCodeValue = ExitCode.OK;
  const program = buildProgram((code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    }
    if (error instanceof VmbootfailError) {
      process.stderr.write(`vmbootfail: ${error.code}: ${error.message}\n`);
      return exitCodeForError(error.code);
    }
    process.stderr.write(
      `vmbootfail: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return ExitCode.INTERNAL;
  }
}

// A reader that goes away (`| head`) is not an error worth a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? ExitCode.OK);
  throw error;
});

process.exitCode = await main(process.argv);
