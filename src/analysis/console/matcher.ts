/**
 * A streaming console matcher. Guest console output is hostile: escape
 * sequences and control bytes are removed, lines are capped, and only a
 * bounded tail is kept. Complete lines are matched, and so is the pending
 * partial line for prompts that never end in a newline ("(initramfs) ",
 * "login: ").
 */
import { StringDecoder } from 'node:string_decoder';
import type { ConsoleMatch, ConsoleMatcherLike } from '../../monitor/vm-console-monitor.js';
import type { ConsoleRule } from './rules.js';

export interface MatcherOptions {
  /** Longer lines are cut (the rest up to the newline is dropped). Default 4096. */
  maxLineLength?: number;
  /** Sanitised console kept for reports. Default 64 KiB. */
  tailBytes?: number;
}

// CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), and other two-byte escapes.
const ESCAPES =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing escape sequences is the point
  /\u001b\[[0-?]*[ -\/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u001b[@-_]|\u009b[0-?]*[ -\/]*[@-~]/g;
// Control characters other than tab and newline (carriage returns are handled before this).
// biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

export function sanitiseConsole(text: string): string {
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

  constructor(rules: ConsoleRule[], options: MatcherOptions = {}) {
    this.#rules = rules;
    this.#maxLine = options.maxLineLength ?? 4096;
    this.#tailBytes = options.tailBytes ?? 64 * 1024;
  }

  feed(chunk: Buffer | string, at: number): ConsoleMatch[] {
    const raw = typeof chunk === 'string' ? chunk : this.#decoder.write(chunk);
    const text = sanitiseConsole(raw);
    this.#tail = (this.#tail + text).slice(-this.#tailBytes);
    const matches: ConsoleMatch[] = [];
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      this.#append(text.slice(start, nl));
      const line = this.#pending;
      this.#pending = '';
      this.#pendingTruncated = false;
      this.#lineNo++;
      if (!this.#partialMatched) this.#match(line, at, false, matches);
      this.#partialMatched = false;
      start = nl + 1;
    }
    this.#append(text.slice(start));
    if (this.#pending.length > 0 && !this.#partialMatched) {
      const before = matches.length;
      this.#match(this.#pending, at, true, matches);
      this.#partialMatched = matches.length > before;
    }
    return matches;
  }

  tail(): string {
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
    for (const rule of this.#rules) {
      if (partial && !rule.partial) continue;
      const m = rule.pattern.exec(line);
      if (!m) continue;
      if (rule.severity !== 'benign') {
        const captures: Record<string, string> = {};
        for (const [k, v] of Object.entries(m.groups ?? {})) if (v !== undefined) captures[k] = v;
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
