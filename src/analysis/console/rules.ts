/**
 * Console failure rules: YAML files, validated against the schema below, with
 * every error naming file:line:col. The default set ships in rules/; users
 * add, replace (same id) or disable rules with a rules directory.
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LineCounter, type Node, type YAMLMap, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import { VmbootfailError } from '../../errors.js';
import type { ConsoleSeverity } from '../../monitor/vm-console-monitor.js';
import { UnsafeFileError, readTextFile } from '../../util/safe-open.js';
import { LinearRegex, LinearRegexError } from './linear-regex.js';

export const SEVERITIES = ['fatal', 'evidence', 'progress', 'success', 'benign'] as const;
export const CATEGORIES = [
  'MISSING_DISK_OR_CONFIG',
  'BACKING_STORE',
  'DISK_DAMAGE',
  'KERNEL_OR_INITRD',
  'OTHER',
] as const;
export const FAULTS = ['VMCE', 'UVDE', 'DIDF', 'UVKE', 'UNKNOWN_KERNEL'] as const;
/**
 * Cues: root-wait is what the boot fail detector cross-checks with what the hypervisor shows
 * (vm-boot-fail-detector.ts); the others mark the lines root-device-missing.ts weighs a give-up
 * line ("X does not exist") with: see that file.
 */
export const CUES = [
  'root-wait',
  'device-missing',
  'disk-present',
  'disk-list',
  'kernel-start',
  'xen-pv',
  'driver-missing',
  'root-mounted',
  'mount-dependency',
  'luks-prompt',
  'fs-tried',
  // A mount that failed without saying why: a filesystem driver's own line about it says more.
  'mount-failed',
  // xl's, libxl's or libxc's error line in a saved log: xl-failure.ts names the cause from its text.
  'xl-error',
  // A line of blkid's output, typed in an initramfs or emergency shell: a device and its tags.
  'blkid-entry',
] as const;

/**
 * The rules for a live guest's console. It holds only what the guest prints, so a line there that
 * looks like dom0's xl or libxl (cue xl-error) is the guest's own text and must not name a dom0
 * cause; those rules are for saved logs (diagnose), where dom0's output may sit beside the guest's.
 */
export function guestConsoleRules(rules: readonly ConsoleRule[]): ConsoleRule[] {
  return rules.filter((r) => r.cue !== 'xl-error');
}

export interface ConsoleRule {
  id: string;
  severity: ConsoleSeverity;
  category: (typeof CATEGORIES)[number];
  fault?: (typeof FAULTS)[number];
  /** The severity instead when the VM boots with a ramdisk that may still load the missing driver. */
  withRamdisk?: ConsoleSeverity;
  cue?: (typeof CUES)[number];
  /** Tried only on the lines right after one with this cue, or after its own last match (matcher.ts). */
  after?: (typeof CUES)[number];
  /** Compiled for a linear-time engine (RE2): see linear-regex.ts. */
  pattern: LinearRegex;
  partial: boolean;
  message?: string;
  remedy?: string;
  /** Where it was defined, for error messages and reports. */
  source: string;
}

export interface RuleSet {
  rules: ConsoleRule[];
  files: string[];
}

const MAX_PATTERN = 512;
/** A rules file is small text; /dev/zero behind a symlink must not be read until memory runs out. */
export const MAX_RULES_FILE_BYTES = 1024 * 1024;
const KEYS = new Set([
  'id',
  'severity',
  'withRamdisk',
  'category',
  'fault',
  'cue',
  'after',
  'match',
  'partial',
  'message',
  'remedy',
]);

/** rules/default.yaml of the package, found from src/ or from dist/src/. */
export const DEFAULT_RULES_FILE = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'rules', 'default.yaml'))) {
    const parent = path.dirname(dir);
    if (parent === dir) return path.resolve('rules', 'default.yaml');
    dir = parent;
  }
  return path.join(dir, 'rules', 'default.yaml');
})();

function ruleError(
  file: string,
  lines: LineCounter,
  node: Node | undefined,
  message: string,
): VmbootfailError {
  const offset = node?.range?.[0] ?? 0;
  const { line, col } = lines.linePos(offset);
  return new VmbootfailError(`${file}:${line}:${col}: ${message}`, { code: 'ERR_RULES', path: file });
}

function scalarString(map: YAMLMap, key: string): { value?: string; node?: Node } {
  const node = map.get(key, true) as Node | undefined;
  if (node === undefined) return {};
  if (!isScalar(node)) return { node };
  return { value: node.value === null || node.value === undefined ? undefined : String(node.value), node };
}

/** Parses and validates one rules file's text. Also returns ids it disables. */
export function parseRules(text: string, file: string): { rules: ConsoleRule[]; disable: string[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const firstError = doc.errors[0];
  if (firstError) {
    // With prettyErrors off, yaml leaves linePos unset: the offset is in pos.
    const { line, col } = firstError.linePos?.[0] ?? lines.linePos(firstError.pos[0]);
    throw new VmbootfailError(
      `${file}:${line}:${col}: not valid YAML: ${firstError.message.split('\n')[0]}`,
      { code: 'ERR_RULES', path: file },
    );
  }
  const root = doc.contents;
  if (!isMap(root))
    throw ruleError(file, lines, root ?? undefined, 'expected a mapping with "version" and "rules"');
  const version = scalarString(root, 'version');
  if (version.value !== '1') throw ruleError(file, lines, version.node ?? root, 'version must be 1');
  const disable: string[] = [];
  const disableNode = root.get('disable', true) as Node | undefined;
  if (disableNode !== undefined) {
    if (!isSeq(disableNode)) throw ruleError(file, lines, disableNode, 'disable must be a list of rule ids');
    for (const item of disableNode.items) {
      if (!isScalar(item) || typeof item.value !== 'string')
        throw ruleError(file, lines, item as Node, 'disable entries must be rule ids');
      disable.push(item.value);
    }
  }
  const rulesNode = root.get('rules', true) as Node | undefined;
  if (rulesNode === undefined) return { rules: [], disable };
  if (!isSeq(rulesNode)) throw ruleError(file, lines, rulesNode, 'rules must be a list');
  const rules: ConsoleRule[] = [];
  const seen = new Set<string>();
  for (const item of rulesNode.items) {
    const node = item as Node;
    if (!isMap(node)) throw ruleError(file, lines, node, 'each rule must be a mapping');
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      if (!KEYS.has(key))
        throw ruleError(
          file,
          lines,
          pair.key as Node,
          `unknown key "${key}" (allowed: ${[...KEYS].join(', ')})`,
        );
    }
    const id = scalarString(node, 'id');
    if (!id.value || !/^[a-z0-9][a-z0-9-]*$/.test(id.value))
      throw ruleError(file, lines, id.node ?? node, 'id must be lowercase letters, digits and dashes');
    if (seen.has(id.value)) throw ruleError(file, lines, id.node, `duplicate rule id "${id.value}"`);
    seen.add(id.value);
    const severity = scalarString(node, 'severity');
    if (!SEVERITIES.includes(severity.value as ConsoleSeverity))
      throw ruleError(file, lines, severity.node ?? node, `severity must be one of ${SEVERITIES.join(', ')}`);
    const withRamdisk = scalarString(node, 'withRamdisk');
    if (withRamdisk.node && !SEVERITIES.includes(withRamdisk.value as ConsoleSeverity))
      throw ruleError(file, lines, withRamdisk.node, `withRamdisk must be one of ${SEVERITIES.join(', ')}`);
    const cue = scalarString(node, 'cue');
    if (cue.node && !CUES.includes(cue.value as (typeof CUES)[number]))
      throw ruleError(file, lines, cue.node, `cue must be one of ${CUES.join(', ')}`);
    const after = scalarString(node, 'after');
    if (after.node && !CUES.includes(after.value as (typeof CUES)[number]))
      throw ruleError(file, lines, after.node, `after must be one of ${CUES.join(', ')}`);
    const category = scalarString(node, 'category');
    if (!CATEGORIES.includes(category.value as (typeof CATEGORIES)[number]))
      throw ruleError(file, lines, category.node ?? node, `category must be one of ${CATEGORIES.join(', ')}`);
    const fault = scalarString(node, 'fault');
    if (fault.node && !FAULTS.includes(fault.value as (typeof FAULTS)[number]))
      throw ruleError(file, lines, fault.node, `fault must be one of ${FAULTS.join(', ')}`);
    const match = scalarString(node, 'match');
    if (!match.value)
      throw ruleError(file, lines, match.node ?? node, 'match (a regular expression) is required');
    if (match.value.length > MAX_PATTERN)
      throw ruleError(file, lines, match.node, `match is longer than ${MAX_PATTERN} characters`);
    // No backtracking guard is needed (nor would one be complete): the engine is linear-time.
    let pattern: LinearRegex;
    try {
      pattern = LinearRegex.compile(match.value);
    } catch (error) {
      if (!(error instanceof LinearRegexError)) throw error;
      throw ruleError(
        file,
        lines,
        match.node,
        `match is not a valid regular expression for RE2 (no backreferences, no lookaround): ${error.message}`,
      );
    }
    const partial = scalarString(node, 'partial');
    if (partial.node && partial.value !== 'true' && partial.value !== 'false')
      throw ruleError(file, lines, partial.node, 'partial must be true or false');
    const message = scalarString(node, 'message').value;
    const remedy = scalarString(node, 'remedy').value;
    const { line } = lines.linePos(node.range?.[0] ?? 0);
    rules.push({
      id: id.value,
      severity: severity.value as ConsoleSeverity,
      category: category.value as (typeof CATEGORIES)[number],
      ...(fault.value ? { fault: fault.value as (typeof FAULTS)[number] } : {}),
      ...(withRamdisk.value ? { withRamdisk: withRamdisk.value as ConsoleSeverity } : {}),
      ...(cue.value ? { cue: cue.value as (typeof CUES)[number] } : {}),
      ...(after.value ? { after: after.value as (typeof CUES)[number] } : {}),
      pattern,
      partial: partial.value === 'true',
      ...(message ? { message } : {}),
      ...(remedy ? { remedy } : {}),
      source: `${file}:${line}`,
    });
  }
  return { rules, disable };
}

async function readRulesFile(file: string): Promise<{ rules: ConsoleRule[]; disable: string[] }> {
  let text: string;
  try {
    // Never a blocking open (a FIFO named *.yaml), never an endless read (/dev/zero): safe-open.ts.
    text = await readTextFile(file, {
      maxBytes: MAX_RULES_FILE_BYTES,
      code: 'ERR_RULES',
      what: 'rules file',
    });
  } catch (error) {
    if (!(error instanceof UnsafeFileError)) throw error;
    throw new VmbootfailError(`${file}: cannot read rules: ${error.message}`, {
      code: 'ERR_RULES',
      path: file,
      cause: error,
    });
  }
  return parseRules(text, file);
}

/**
 * The default rules, then each *.yaml/*.yml of `userDir` in name order: a rule
 * with an existing id replaces it in place, new rules come before the default
 * fallbacks of the same severity, and `disable: [id]` removes rules.
 */
export async function loadRules(options: { userDir?: string; defaultsFile?: string } = {}): Promise<RuleSet> {
  const defaultsFile = options.defaultsFile ?? DEFAULT_RULES_FILE;
  const base = await readRulesFile(defaultsFile);
  let rules = [...base.rules];
  const files = [defaultsFile];
  if (options.userDir) {
    let names: string[];
    try {
      names = (await readdir(options.userDir)).filter((n) => /\.ya?ml$/.test(n)).sort();
    } catch (error) {
      throw new VmbootfailError(
        `${options.userDir}: cannot read the rules directory: ${(error as Error).message}`,
        {
          code: 'ERR_RULES',
          path: options.userDir,
          cause: error,
        },
      );
    }
    for (const name of names) {
      const file = path.join(options.userDir, name);
      const user = await readRulesFile(file);
      files.push(file);
      // Benign rules must stay first; other user rules go before the defaults they might refine.
      // Within a file, rules keep their order: each new one goes after the file's previous new one.
      let benignAt = 0;
      let otherAt: number | undefined;
      for (const rule of user.rules) {
        const at = rules.findIndex((r) => r.id === rule.id);
        if (at >= 0) {
          rules[at] = rule;
        } else if (rule.severity === 'benign') {
          rules.splice(benignAt++, 0, rule);
          if (otherAt !== undefined) otherAt++;
        } else {
          if (otherAt === undefined) {
            const firstNonBenign = rules.findIndex((r) => r.severity !== 'benign');
            otherAt = firstNonBenign < 0 ? rules.length : firstNonBenign;
          }
          rules.splice(otherAt++, 0, rule);
        }
      }
      const unknown = user.disable.filter((id) => !rules.some((r) => r.id === id));
      if (unknown.length) {
        throw new VmbootfailError(`${file}: disable names unknown rule ids: ${unknown.join(', ')}`, {
          code: 'ERR_RULES',
          path: file,
        });
      }
      rules = rules.filter((r) => !user.disable.includes(r.id));
    }
  }
  return { rules, files };
}
