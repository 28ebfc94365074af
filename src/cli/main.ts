#!/usr/bin/env node
/** The vmbootfail command. The only module that prints or exits. */
import { mkdtemp, open, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { type InspectReport, inspectConfig, testVm } from '../api.js';
import { capabilities } from '../capabilities.js';
import { type DiskInspection, DiskInspector } from '../disk/inspector.js';
import { VmbootfailError } from '../errors.js';
import { buildSampleDisks } from '../samples/sample-disks.js';
import { ExitCode, type ExitCodeValue, exitCodeForError } from './exit-codes.js';
import { formatDiskInspection } from './format-disk.js';
import { formatBootReport, formatInspectReport } from './format-report.js';

const JSON_SCHEMA_VERSION = 1;

interface InspectOptions {
  json?: boolean;
  samples?: string | boolean;
}

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** An xl config is small text; a disk image has NUL bytes in its first sectors (or is a device). */
async function looksLikeXlConfig(target: string): Promise<boolean> {
  const info = await stat(target).catch(() => undefined);
  if (!info?.isFile() || info.size === 0 || info.size > 1024 * 1024) return false;
  const handle = await open(target, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(4096), 0, 4096, 0);
    return !buffer.subarray(0, bytesRead).includes(0);
  } finally {
    await handle.close();
  }
}

async function inspectCommand(targets: string[], options: InspectOptions): Promise<ExitCodeValue> {
  const inspector = new DiskInspector();
  const configs: string[] = [];
  const disks: { path: string; note?: string; expectFindings?: string[] }[] = [];
  for (const t of targets) {
    if (await looksLikeXlConfig(t)) configs.push(t);
    else disks.push({ path: t });
  }
  if (options.samples !== undefined && options.samples !== false) {
    const dir =
      typeof options.samples === 'string'
        ? options.samples
        : await mkdtemp(path.join(os.tmpdir(), 'vmbootfail-samples-'));
    const built = await buildSampleDisks(dir);
    disks.push(
      ...built.map((s) => ({ path: s.path, note: s.description, expectFindings: s.expectFindings })),
    );
  }
  if (disks.length === 0 && configs.length === 0) {
    throw new VmbootfailError(
      'nothing to inspect: give xl configs, disk images or block devices, or --samples',
      {
        code: 'ERR_INVALID_ARGUMENT',
      },
    );
  }
  const results: (DiskInspection | { path: string; error: { code: string; message: string } })[] = [];
  const configReports: (InspectReport | { path: string; error: { code: string; message: string } })[] = [];
  let worst: ExitCodeValue = ExitCode.OK;
  // --samples alone is a self-check: each sample must be diagnosed as its description says.
  const samplesOnly = configs.length === 0 && disks.every((d) => d.expectFindings !== undefined);
  const samplesNotAsDescribed: string[] = [];
  for (const config of configs) {
    try {
      const report = await inspectConfig(config);
      configReports.push(report);
      if (report.verdict === 'FAULT_PREDICTED' && worst === ExitCode.OK) worst = ExitCode.FAULT_PREDICTED;
      if (!options.json) print(`${formatInspectReport(report)}\n`);
    } catch (error) {
      if (!(error instanceof VmbootfailError)) throw error;
      configReports.push({ path: config, error: { code: error.code, message: error.message } });
      if (worst === ExitCode.OK || worst === ExitCode.FAULT_PREDICTED) worst = exitCodeForError(error.code);
      if (!options.json) print(`${config}: ERROR ${error.code}: ${error.message}\n`);
    }
  }
  for (const disk of disks) {
    try {
      const inspection = await inspector.inspect(disk.path);
      results.push(inspection);
      const codes = inspection.findings.map((f) => f.code);
      if (disk.expectFindings && codes.join(',') !== disk.expectFindings.join(',')) {
        samplesNotAsDescribed.push(
          `${disk.path}: expected [${disk.expectFindings.join(', ')}], found [${codes.join(', ')}]`,
        );
      }
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
      JSON.stringify(
        {
          schemaVersion: JSON_SCHEMA_VERSION,
          command: 'inspect',
          configs: configReports,
          disks: results,
          ...(samplesOnly ? { samplesNotAsDescribed } : {}),
        },
        null,
        2,
      ),
    );
  }
  if (!samplesOnly || (worst !== ExitCode.OK && worst !== ExitCode.FAULT_PREDICTED)) return worst;
  if (!options.json) {
    print(
      samplesNotAsDescribed.length === 0
        ? `${disks.length} sample disks: each diagnosed as its description says`
        : `sample disks NOT diagnosed as described (a bug):\n  ${samplesNotAsDescribed.join('\n  ')}`,
    );
  }
  return samplesNotAsDescribed.length === 0 ? ExitCode.OK : ExitCode.INTERNAL;
}

interface TestOptions {
  retries: string;
  timeLimit: string;
  json?: boolean;
  keep?: boolean;
  rules?: string;
}

const VERDICT_EXIT: Record<string, ExitCodeValue> = {
  OK: ExitCode.OK,
  TRANSIENT: ExitCode.TRANSIENT,
  PERMANENT: ExitCode.PERMANENT,
  ERROR: ExitCode.ENVIRONMENT,
  ABORTED: ExitCode.ENVIRONMENT,
  REFUSED: ExitCode.ENVIRONMENT,
};

function wholeNumber(value: string, what: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new VmbootfailError(`${what} must be a whole number >= ${min}, got ${JSON.stringify(value)}`, {
      code: 'ERR_INVALID_ARGUMENT',
    });
  }
  return n;
}

async function testCommand(config: string, options: TestOptions): Promise<ExitCodeValue> {
  const retries = wholeNumber(options.retries, '--retries', 0);
  const timeLimitMs = wholeNumber(options.timeLimit, '--time-limit', 1) * 1000;
  const ticker = process.stderr.isTTY && !options.json;
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  const report = await testVm(config, {
    retries,
    timeLimitMs,
    keepOnFailure: options.keep ?? false,
    ...(options.rules ? { rulesDir: options.rules } : {}),
    signal: controller.signal,
    onProgress: ticker
      ? ({ tryIndex, elapsedMs }) =>
          process.stderr.write(
            `\rTry ${tryIndex + 1}  Testing Time : ${Math.floor(elapsedMs / 1000)} seconds / ${timeLimitMs / 1000}   `,
          )
      : undefined,
  });
  if (ticker) process.stderr.write('\n');
  print(options.json ? JSON.stringify({ ...report, command: 'test' }, null, 2) : formatBootReport(report));
  return VERDICT_EXIT[report.verdict] ?? ExitCode.INTERNAL;
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
    .description(
      'predict boot faults from xl configs, disk images or block devices, without booting anything',
    )
    .argument('[targets...]', 'xl config files, disk image files or block devices (e.g. /dev/loop6)')
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
Exit codes: 0 no fault, 2 bad input, 3 environment error, 4 fault found or predicted.`,
    )
    .action(async (disks: string[], opts: InspectOptions) => setExit(await inspectCommand(disks, opts)));
  program
    .command('test')
    .description(
      'boot the VM of an xl config on this dom0 and report OK, TRANSIENT or PERMANENT with the cause',
    )
    .argument('<config>', 'xl domain config file')
    .option('--retries <n>', 'tries after the first failure', '3')
    .option('--time-limit <seconds>', 'per try', '120')
    .option('--keep', 'keep the VM after a permanent failure, for inspection')
    .option('--rules <dir>', 'a directory of console rules (*.yaml) that add to or override the defaults')
    .option('--json', 'print JSON (schemaVersion 1) instead of text')
    .addHelpText(
      'after',
      '\nExit codes: 0 OK, 2 bad input, 3 environment (not a dom0, xenstored down, a domain with that name exists), 5 transient, 6 permanent.',
    )
    .action(async (config: string, opts: TestOptions) => setExit(await testCommand(config, opts)));
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
