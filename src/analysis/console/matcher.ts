/**
 * A streaming console matcher. Guest console output is hostile: escape
 * sequences and control bytes are removed, lines are capped, and only a
 * bounded tail is kept. Complete lines are matched, and so is the pending
 * partial line for prompts that never end in a newline ("(initramfs) ",
 * "login: ").
 *
 * Matching is synchronous, on the JS thread, so its cost is bounded three
 * ways: the rules run on a linear-time engine (linear-regex.ts), a line is
 * cut at maxLineLength, and at most matchBytesPerSecond characters (plus a
 * burst) are matched per second of console time; lines beyond that budget
 * go to the tail unmatched and are counted in `unmatchedLines`. The pending
 * partial line is matched again only while it is short or once it has
 * doubled, so a line fed in small chunks costs linear, not quadratic, time.
 */
import { StringDecoder } from 'node:string_decoder';
import type { ConsoleMatch, ConsoleMatcherLike } from '../../monitor/vm-console-monitor.js';
import { requiredLiterals } from './required-literals.js';
import type { ConsoleRule } from './rules.js';

export interface MatcherOptions {
  /** Longer lines are cut (the rest up to the newline is dropped). Default 4096. */
  maxLineLength?: number;
  /** Sanitised console kept for reports. Default 64 KiB. */
  tailBytes?: number;
  /** Characters matched per second of console time (the `at` of feed()); default 1 MiB. */
  matchBytesPerSecond?: number;
  /** What may be matched at once before the per-second budget applies; default 4 MiB. */
  matchBurstBytes?: number;
  /** Skip rules whose required literals a line lacks (default true; false only to check that it agrees). */
  prefilter?: boolean;
}

/** A pending partial line this short is tried at every chunk; longer ones when they have doubled. */
const PARTIAL_RETRY_CHARS = 512;

// CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), and other two-byte escapes.
const ESCAPES =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing escape sequences is the point
  /\u001b\[[0-?]*[ -\/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u001b[@-_]|\u009b[0-?]*[ -\/]*[@-~]/g;
// Control characters other than tab and newline (carriage returns are handled before this).
// biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

// Every escape, carriage return and control character is in this range: a text without one (most
// console lines) is returned as it is after one scan instead of three.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const ANY_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

export function sanitiseConsole(text: string): string {
  if (!ANY_CONTROL.test(text)) return text;
  return text.replace(ESCAPES, '').replace(/\r\n?/g, '\n').replace(CONTROLS, '');
}

export class ConsoleMatcher implements ConsoleMatcherLike {
  readonly #rules: ConsoleRule[];
  readonly #maxLine: number;
  readonly #tailBytes: number;
  readonly #decoder = new StringDecoder('utf8');
  #pending = '';
  #pendingTruncated = false;
  #partialMatched = false;
  #lineNo = 0;
  #tail = '';
  readonly #partialRules: ConsoleRule[];
  /** Which rules a line can match, from the literals it holds (required-literals.ts). */
  readonly #prefilter: RulePrefilter;
  readonly #partialPrefilter: RulePrefilter;
  /** Length of the pending line when partial rules last ran on it. */
  #partialTriedAt = 0;
  readonly #ratePerMs: number;
  readonly #burst: number;
  #budget: number;
  #budgetAt: number | undefined;
  #unmatchedLines = 0;
  readonly #usePrefilter: boolean;
  /** The line each cue last matched on, for rules with `after`. */
  readonly #cueLine = new Map<string, number>();

  constructor(rules: ConsoleRule[], options: MatcherOptions = {}) {
    this.#rules = rules;
    this.#partialRules = rules.filter((r) => r.partial);
    this.#usePrefilter = options.prefilter ?? true;
    this.#prefilter = new RulePrefilter(rules);
    this.#partialPrefilter = new RulePrefilter(this.#partialRules);
    this.#maxLine = options.maxLineLength ?? 4096;
    this.#tailBytes = options.tailBytes ?? 64 * 1024;
    this.#ratePerMs = (options.matchBytesPerSecond ?? 1024 * 1024) / 1000;
    this.#burst = options.matchBurstBytes ?? 4 * 1024 * 1024;
    this.#budget = this.#burst;
  }

  /** Lines not matched because the console went over its matching budget. */
  get unmatchedLines(): number {
    return this.#unmatchedLines;
  }

  /** Takes `cost` from the budget, refilled by console time; false when it is spent. */
  #spend(cost: number, at: number): boolean {
    if (this.#budgetAt !== undefined && at > this.#budgetAt)
      this.#budget = Math.min(this.#burst, this.#budget + (at - this.#budgetAt) * this.#ratePerMs);
    if (this.#budgetAt === undefined || at > this.#budgetAt) this.#budgetAt = at;
    if (this.#budget < cost) return false;
    this.#budget -= cost;
    return true;
  }

  feed(chunk: Buffer | string, at: number): ConsoleMatch[] {
    const raw = typeof chunk === 'string' ? chunk : this.#decoder.write(chunk);
    const text = sanitiseConsole(raw);
    // The tail grows by appends and is cut back only when it reaches twice its size: linear, not a
    // 64 KiB copy per chunk.
    this.#tail += text;
    if (this.#tail.length > 2 * this.#tailBytes) this.#tail = this.#tail.slice(-this.#tailBytes);
    const matches: ConsoleMatch[] = [];
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      this.#append(text.slice(start, nl));
      const line = this.#pending;
      this.#pending = '';
      this.#pendingTruncated = false;
      this.#lineNo++;
      if (!this.#partialMatched) {
        if (this.#spend(line.length + 1, at)) this.#match(line, at, false, matches);
        else this.#unmatchedLines++;
      }
      this.#partialMatched = false;
      this.#partialTriedAt = 0;
      start = nl + 1;
    }
    this.#append(text.slice(start));
    const pending = this.#pending.length;
    if (
      pending > 0 &&
      !this.#partialMatched &&
      this.#partialRules.length > 0 &&
      pending > this.#partialTriedAt &&
      (pending <= PARTIAL_RETRY_CHARS || pending >= 2 * this.#partialTriedAt) &&
      this.#spend(pending, at)
    ) {
      this.#partialTriedAt = pending;
      const before = matches.length;
      this.#match(this.#pending, at, true, matches);
      this.#partialMatched = matches.length > before;
    }
    return matches;
  }

  tail(): string {
    if (this.#tail.length > this.#tailBytes) this.#tail = this.#tail.slice(-this.#tailBytes);
    return this.#tail;
  }

  #append(piece: string): void {
    if (this.#pendingTruncated) return;
    const room = this.#maxLine - this.#pending.length;
    if (piece.length > room) {
      this.#pending += piece.slice(0, room);
      this.#pendingTruncated = true;
    } else {
      this.#pending += piece;
    }
  }

  /** First rule that matches wins; partial lines only try rules marked partial. */
  #match(line: string, at: number, partial: boolean, out: ConsoleMatch[]): void {
    // Most console lines match no rule: only the rules whose required literals the line holds run
    // their automaton (required-literals.ts), in the rules' order.
    const rules = partial ? this.#partialRules : this.#rules;
    const candidates = this.#usePrefilter
      ? (partial ? this.#partialPrefilter : this.#prefilter).candidates(line)
      : rules.keys();
    for (const r of candidates) {
      const rule = rules[r] as ConsoleRule;
      if (rule.after && !(this.#lineNo - (this.#cueLine.get(rule.after) ?? -AFTER_LINES) <= AFTER_LINES))
        continue;
      const captures = rule.pattern.captures(line);
      if (!captures) continue;
      if (rule.cue) this.#cueLine.set(rule.cue, this.#lineNo);
      // A list goes on while its entries do: each one keeps the window open.
      if (rule.after) this.#cueLine.set(rule.after, this.#lineNo);
      if (rule.severity !== 'benign') {
        out.push({
          ruleId: rule.id,
          severity: rule.severity,
          ...(rule.fault ? { fault: rule.fault } : {}),
          ...(rule.withRamdisk ? { withRamdisk: rule.withRamdisk } : {}),
          ...(rule.cue ? { cue: rule.cue } : {}),
          category: rule.category,
          ...(rule.message ? { message: rule.message } : {}),
          ...(rule.remedy ? { remedy: rule.remedy } : {}),
          line: line.trim(),
          at,
          captures,
        });
      }
      return;
    }
  }

  get lineCount(): number {
    return this.#lineNo;
  }
}

/**
 * A rule with `after` is tried on this many lines after a line with its cue, or after its own last
 * match: the entries of a list that follows its header (the kernel's partition list puts a
 * " driver: vbd" line after each disk, and other messages may come between).
 */
const AFTER_LINES = 16;

/**
 * The rules a line may match, found with one scan for the literals of each rule's most selective set
 * instead of a search per rule; the rule's other sets are then checked with includes(). The scanned
 * literals are one V8 regular expression, longest first and restarted one character after each
 * hit: a literal that starts where a longer one was found is a prefix of it, and is marked with it, so
 * every literal the line holds is found. Safe on V8's backtracking engine: an alternation of escaped
 * plain strings has no nested quantifier, so a scan costs the line's length times the literals at worst.
 */
class RulePrefilter {
  /** Per rule: the literal sets a match must hold (one literal of each), or null (no prefilter). */
  readonly #sets: (string[][] | null)[];
  readonly #always: number[];
  /** Per scanned literal: the rules whose anchor set it belongs to. */
  readonly #byAnchor: number[][];
  readonly #ids = new Map<string, number>();
  /** Per scanned literal: itself and the scanned literals that are its prefixes. */
  readonly #implied: number[][];
  readonly #scan: RegExp | null;
  readonly #seen: Uint32Array;
  #stamp = 0;

  constructor(rules: ConsoleRule[]) {
    this.#sets = rules.map(literalsOf);
    // Only each rule's most selective set (its shortest literal the longest) is scanned for: short,
    // frequent literals (": ", "sd") would stop the scan at nearly every character. The other sets
    // are checked with includes() on the few rules the scan leaves.
    const anchors = this.#sets.map((sets) => (sets ? mostSelective(sets) : null));
    const all = [...new Set(anchors.flatMap((set) => set ?? []))].sort((a, b) => b.length - a.length);
    all.forEach((l, id) => this.#ids.set(l, id));
    this.#implied = all.map((l) => all.flatMap((p, id) => (l.startsWith(p) ? [id] : [])));
    this.#always = rules.flatMap((_, r) => (this.#sets[r] ? [] : [r]));
    this.#byAnchor = all.map(() => []);
    anchors.forEach((set, r) => {
      for (const l of new Set(set ?? [])) this.#byAnchor[this.#ids.get(l) as number]?.push(r);
    });
    this.#scan = all.length
      ? new RegExp(all.map((l) => l.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|'), 'g')
      : null;
    this.#seen = new Uint32Array(all.length);
  }

  /** Indices of the rules that may match `line`, ascending. */
  candidates(line: string): number[] {
    const scan = this.#scan;
    if (!scan) return this.#always;
    const stamp = ++this.#stamp;
    const found: number[] = [];
    scan.lastIndex = 0;
    for (let m = scan.exec(line); m; m = scan.exec(line)) {
      for (const id of this.#implied[this.#ids.get(m[0]) as number] as number[]) {
        if (this.#seen[id] !== stamp) {
          this.#seen[id] = stamp;
          found.push(id);
        }
      }
      scan.lastIndex = m.index + 1;
    }
    if (found.length === 0) return this.#always;
    const rules = new Set(this.#always);
    for (const id of found) for (const r of this.#byAnchor[id] as number[]) rules.add(r);
    const holds = (sets: string[][] | null) =>
      sets?.every((set) => set.some((l) => line.includes(l))) ?? true;
    return [...rules].filter((r) => holds(this.#sets[r] ?? null)).sort((a, b) => a - b);
  }
}

/** The set whose shortest literal is the longest: the one a line is least likely to hold by chance. */
function mostSelective(sets: string[][]): string[] {
  let best = sets[0] ?? [];
  let bestLength = -1;
  for (const set of sets) {
    const shortest = Math.min(...set.map((l) => l.length));
    if (shortest > bestLength) {
      best = set;
      bestLength = shortest;
    }
  }
  return best;
}

const LITERALS = new WeakMap<ConsoleRule, string[][] | null>();
function literalsOf(rule: ConsoleRule): string[][] | null {
  let known = LITERALS.get(rule);
  if (known === undefined) {
    known = requiredLiterals(rule.pattern.source);
    LITERALS.set(rule, known);
  }
  return known;
}
