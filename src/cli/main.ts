#!/usr/bin/env node
/** The vmbootfail command. The only module that prints or exits. */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { type InspectReport, diagnoseLog, inspectConfig, testVm } from '../api.js';
import { capabilities } from '../capabilities.js';
import { type DiskInspection, DiskInspector, faultFindings } from '../disk/inspector.js';
import { VmbootfailError } from '../errors.js';
import { buildSampleDisks } from '../samples/sample-disks.js';
import { printable, safeJson } from '../util/printable.js';
import { openRegularFile } from '../util/safe-open.js';
import { ExitCode, type ExitCodeValue, exitCodeForError } from './exit-codes.js';
import { formatDiskInspection } from './format-disk.js';
import { formatBootReport, formatDiagnoseReport, formatInspectReport } from './format-report.js';

const JSON_SCHEMA_VERSION = 1;

interface InspectOptions {
  json?: boolean;
  samples?: string | boolean;
}

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** Names that say "xl config": such a target is read as one, and refused as bad input if it is not one. */
const CONFIG_NAME = /\.(?:cfg|conf|xl|xlcfg)$/i;
/** A disk image has NUL bytes in its first sectors (boot block, partition entries, headers). */
const SNIFF_BYTES = 64 * 1024;

/**
 * Config or disk? A target named *.cfg (or .conf, .xl) is a config whatever it holds, so that a binary
 * or 50 MB one is refused (exit 2) instead of being inspected as a disk image. Otherwise a regular file
 * whose first 64 KiB are text (no NUL) is a config: it is then held to the config's size cap. Anything
 * else (devices, images, missing paths) goes to the disk inspector, which says what it is.
 */
async function looksLikeXlConfig(target: string): Promise<boolean> {
  if (CONFIG_NAME.test(target)) return true;
  const opened = await openRegularFile(target).catch(() => undefined);
  if (!opened) return false;
  const { handle, info } = opened;
  try {
    if (info.size === 0) return false;
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(SNIFF_BYTES), 0, SNIFF_BYTES, 0);
    return !buffer.subarray(0, bytesRead).includes(0);
  } finally {
    await handle.close();
  }
}

async function inspectCommand(targets: string[], options: InspectOptions): Promise<ExitCodeValue> {
  // A temporary directory of samples is ours to remove (61 MB a run); a directory the user named is not.
  const ownSamplesDir =
    options.samples === true ? await mkdtemp(path.join(os.tmpdir(), 'vmbootfail-samples-')) : undefined;
  try {
    return await inspectTargets(targets, options, ownSamplesDir);
  } finally {
    if (ownSamplesDir) await rm(ownSamplesDir, { recursive: true, force: true });
  }
}

async function inspectTargets(
  targets: string[],
  options: InspectOptions,
  ownSamplesDir: string | undefined,
): Promise<ExitCodeValue> {
  const inspector = new DiskInspector();
  const configs: string[] = [];
  const disks: { path: string; note?: string; expectFindings?: string[] }[] = [];
  for (const t of targets) {
    if (await looksLikeXlConfig(t)) configs.push(t);
    else disks.push({ path: t });
  }
  if (
    disks.length === 0 &&
    configs.length === 0 &&
    (options.samples === undefined || options.samples === false)
  ) {
    throw new VmbootfailError(
      'nothing to inspect: give xl configs, disk images or block devices, or --samples',
      {
        code: 'ERR_INVALID_ARGUMENT',
      },
    );
  }
  if (options.samples !== undefined && options.samples !== false) {
    const dir = typeof options.samples === 'string' ? options.samples : (ownSamplesDir as string);
    const built = await buildSampleDisks(dir);
    disks.push(
      ...built.map((s) => ({ path: s.path, note: s.description, expectFindings: s.expectFindings })),
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
      if (!options.json) print(`${printable(`${config}: ERROR ${error.code}: ${error.message}`)}\n`);
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
      // A filesystem that mounts with a warning is reported, but is no fault.
      if (faultFindings(inspection.findings).length > 0 && worst === ExitCode.OK)
        worst = ExitCode.FAULT_PREDICTED;
      if (!options.json) {
        if (disk.note) print(printable(`# ${disk.note}`));
        print(formatDiskInspection(inspection));
        print('');
      }
    } catch (error) {
      if (!(error instanceof VmbootfailError)) throw error;
      results.push({ path: disk.path, error: { code: error.code, message: error.message } });
      // An error outranks a fault; the first error decides.
      if (worst === ExitCode.OK || worst === ExitCode.FAULT_PREDICTED) worst = exitCodeForError(error.code);
      if (!options.json) print(`${printable(`${disk.path}: ERROR ${error.code}: ${error.message}`)}\n`);
    }
  }
  if (options.json) {
    print(
      safeJson({
        schemaVersion: JSON_SCHEMA_VERSION,
        command: 'inspect',
        configs: configReports,
        disks: results,
        ...(samplesOnly ? { samplesNotAsDescribed } : {}),
      }),
    );
  }
  if (!samplesOnly || (worst !== ExitCode.OK && worst !== ExitCode.FAULT_PREDICTED)) return worst;
  if (!options.json) {
    print(
      samplesNotAsDescribed.length === 0
        ? `${disks.length} sample disks: each diagnosed as its description says`
        : `sample disks NOT diagnosed as described (a bug):\n  ${samplesNotAsDescribed.map(printable).join('\n  ')}`,
    );
  }
  return samplesNotAsDescribed.length === 0 ? ExitCode.OK : ExitCode.INTERNAL;
}

interface TestOptions {
  retries: string;
  timeLimit: string;
  json?: boolean;
  keep?: boolean;
  bootAnyway?: boolean;
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
    bootDespitePreflight: options.bootAnyway ?? false,
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
  print(options.json ? safeJson({ ...report, command: 'test' }) : formatBootReport(report));
  return VERDICT_EXIT[report.verdict] ?? ExitCode.INTERNAL;
}

async function diagnoseCommand(
  log: string,
  options: { config?: string; rules?: string; json?: boolean },
): Promise<ExitCodeValue> {
  const report = await diagnoseLog(log, {
    ...(options.config ? { configPath: options.config } : {}),
    ...(options.rules ? { rulesDir: options.rules } : {}),
  });
  print(options.json ? safeJson({ ...report, command: 'diagnose', log }) : formatDiagnoseReport(log, report));
  return report.verdict === 'FAILED' ? ExitCode.PERMANENT : ExitCode.OK;
}

async function capabilitiesCommand(options: { json?: boolean }): Promise<ExitCodeValue> {
  const caps = await capabilities();
  if (options.json) {
    print(safeJson({ schemaVersion: JSON_SCHEMA_VERSION, command: 'capabilities', ...caps }));
  } else {
    for (const [name, cap] of Object.entries(caps)) {
      print(printable(`${name.padEnd(15)} ${cap.available ? 'yes' : 'no '} ${cap.reason ?? ''}`.trimEnd()));
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
    .option(
      '--boot-anyway',
      'create the VM even when the preflight proves it cannot boot (by default it is not created)',
    )
    .option('--rules <dir>', 'a directory of console rules (*.yaml) that add to or override the defaults')
    .option('--json', 'print JSON (schemaVersion 1) instead of text')
    .addHelpText(
      'after',
      '\nExit codes: 0 OK, 2 bad input, 3 environment (not a dom0, xenstored down, a domain with that name exists), 5 transient, 6 permanent.',
    )
    .action(async (config: string, opts: TestOptions) => setExit(await testCommand(config, opts)));
  program
    .command('diagnose')
    .description(
      "name the cause of a failed boot from a saved console log (xenconsoled's guest log, xl console output, a cloud console); no Xen needed",
    )
    .argument('<log>', 'the console log file')
    .option('--config <xl-config>', "the VM's xl config: its disks and kernel are inspected too")
    .option('--rules <dir>', 'a directory of console rules (*.yaml) that add to or override the defaults')
    .option('--json', 'print JSON (schemaVersion 1) instead of text')
    .addHelpText(
      'after',
      '\nExit codes: 0 the log shows a boot (or no failure), 2 bad input, 6 the boot failed.',
    )
    .action(async (log: string, opts: { config?: string; rules?: string; json?: boolean }) =>
      setExit(await diagnoseCommand(log, opts)),
    );
  program
    .command('capabilities')
    .description('show what this host can do (libraries, xenstored, dom0)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => setExit(await capabilitiesCommand(opts)));
  return program;
}

/** The command and whether --json was asked for, read from argv before (or without) commander. */
function jsonRequest(argv: string[]): { json: boolean; command: string | undefined } {
  const args = argv.slice(2);
  const end = args.indexOf('--');
  const options = end < 0 ? args : args.slice(0, end);
  return { json: options.includes('--json'), command: args.find((a) => !a.startsWith('-')) };
}

/** With --json, stdout always carries one JSON document, an error included. */
function printJsonError(command: string | undefined, code: string, message: string): void {
  print(safeJson({ schemaVersion: JSON_SCHEMA_VERSION, command: command ?? null, error: { code, message } }));
}

async function main(argv: string[]): Promise<ExitCodeValue> {
  let exitCode: ExitCodeValue = ExitCode.OK;
  const program = buildProgram((code) => {
    exitCode = code;
  });
  const request = jsonRequest(argv);
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return ExitCode.OK;
      if (request.json) printJsonError(request.command, 'ERR_USAGE', error.message.replace(/^error: /, ''));
      return ExitCode.USAGE;
    }
    if (error instanceof VmbootfailError) {
      process.stderr.write(`${printable(`vmbootfail: ${error.code}: ${error.message}`)}\n`);
      if (request.json) printJsonError(request.command, error.code, error.message);
      return exitCodeForError(error.code);
    }
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`vmbootfail: internal error: ${text.split('\n').map(printable).join('\n')}\n`);
    if (request.json) printJsonError(request.command, 'ERR_INTERNAL', text.split('\n')[0] ?? text);
    return ExitCode.INTERNAL;
  }
}

// A reader that goes away (`| head`) is not an error worth a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? ExitCode.OK);
  throw error;
});

process.exitCode = await main(process.argv);
