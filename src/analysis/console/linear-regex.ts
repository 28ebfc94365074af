/**
 * Console rules run on a linear-time regular expression engine: a rule comes
 * from a user's file and the text from a guest, and V8's backtracking engine
 * takes exponential time on patterns like `((a+))+$` or `^(a|aa)+$`, on the
 * JS thread, where it blocks everything else.
 *
 * The engine is re2js, the pure-JavaScript port of Google's RE2 (the same
 * automata, the same syntax, time linear in the input). Chosen over
 *  - `re2` (the C++ RE2 as a native addon): its install downloads a prebuilt
 *    binary from GitHub and, where that is not reachable (as on our build
 *    hosts), compiles RE2 and Abseil from source, several minutes on 2 cores,
 *    and adds a second native addon to load and keep in step with Node;
 *  - `re2-wasm`: Google's WASM build, unmaintained since 2021.
 * re2js has no native part and no install script, is kept up to date, and on
 * our default rules matches about as fast as V8 (measured: 10 MB of console
 * against the 40 default rules, 0.54 s against V8's 0.43 s).
 *
 * RE2 syntax is what JavaScript's is for everything the rules use (classes,
 * \d \s \w \b, (?:...), (?<name>...), anchors); it has no backreferences and no
 * lookaround, which are what make backtracking necessary: such a pattern is
 * rejected when the rules are loaded. Differences that remain: RE2's `.`
 * also matches \r (the matcher has turned every \r into a line end before
 * matching) and its \s is ASCII only.
 */
import { RE2JS } from 're2js';

export interface LinearMatch {
  /** Where the match starts in the input. */
  index: number;
  /** The matched text. */
  text: string;
  /** Named groups that took part in the match. */
  groups: Record<string, string>;
}

export class LinearRegexError extends Error {
  override name = 'LinearRegexError';
}

/** A compiled pattern; the subset of RegExp the rules and their tests use. */
export class LinearRegex {
  readonly source: string;
  readonly #re: RE2JS;
  readonly #names: string[];

  private constructor(source: string, re: RE2JS) {
    this.source = source;
    this.#re = re;
    this.#names = Object.keys(re.namedGroups());
  }

  /** Compiles `source` as RE2; throws LinearRegexError with RE2's reason. */
  static compile(source: string): LinearRegex {
    try {
      return new LinearRegex(source, RE2JS.compile(source));
    } catch (error) {
      const message = (error as Error).message ?? String(error);
      throw new LinearRegexError(message.replace(/^error parsing regexp: /, ''));
    }
  }

  test(input: string): boolean {
    return this.#re.test(input);
  }

  exec(input: string): LinearMatch | null {
    const m = this.#re.matcher(input);
    if (!m.find()) return null;
    return { index: m.start(), text: m.group() ?? '', groups: this.#groupsOf(m) };
  }

  /** The named captures of the first match, or null: what a console rule needs, as cheaply as possible. */
  captures(input: string): Record<string, string> | null {
    // The DFA decides first (most console lines match no rule); only a match pays for the
    // slower submatch engine, and only when there are named groups to fill.
    if (!this.#re.test(input)) return null;
    if (this.#names.length === 0) return {};
    const m = this.#re.matcher(input);
    return m.find() ? this.#groupsOf(m) : null;
  }

  #groupsOf(m: ReturnType<RE2JS['matcher']>): Record<string, string> {
    const groups: Record<string, string> = {};
    for (const name of this.#names) {
      const value = m.group(name);
      if (value !== null && value !== undefined) groups[name] = value;
    }
    return groups;
  }

  toString(): string {
    return `/${this.source}/`;
  }
}
