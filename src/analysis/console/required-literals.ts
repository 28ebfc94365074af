/**
 * A prefilter for the console rules: for each pattern, a set of literal strings
 * one of which appears in every line the pattern matches. A line that holds
 * none of them cannot match, and is skipped with a few native `includes` calls
 * instead of a pass of the automaton per rule.
 *
 * Written here because re2js has no prefilter (RE2's C++ FilteredRE2 is not
 * ported), and the alternative tried first, every rule as one alternation
 * compiled by re2js, was slower than trying the rules one by one (measured on
 * the corpus: 1351 ms against 179 ms for 120 rules). The extraction is
 * conservative: anything it does not understand (a flag group, a class, an
 * optional part) gives no requirement, never a wrong one; a test and a fuzz
 * target check that prefiltered and unfiltered matching agree.
 */

type Required = string[] | null;

/** Shortest literal worth filtering on: a shorter one is in too many lines to skip any. */
const MIN_LITERAL = 3;

/**
 * One of the returned strings is a substring of every match of `source` (RE2
 * syntax), or null when no such set is known or worth using.
 */
export function requiredLiterals(source: string): string[] | null {
  // Flags change what a literal matches ((?i), (?s) ...): not filtered.
  if (/\(\?[a-zA-Z]+[:)]/.test(source)) return null;
  const parser = new Parser(source);
  let result: Required;
  try {
    result = parser.alternation();
    if (parser.i !== source.length) return null; // an unbalanced ')': RE2 would have refused it
  } catch {
    return null;
  }
  if (!result || result.length === 0 || result.some((s) => s.length < MIN_LITERAL)) return null;
  return [...new Set(result)];
}

const ESCAPE_CLASSES = new Set(['d', 'D', 's', 'S', 'w', 'W', 'b', 'B', 'A', 'z', 'C']);

class Parser {
  i = 0;
  constructor(readonly src: string) {}

  alternation(): Required {
    const branches: Required[] = [this.sequence()];
    while (this.src[this.i] === '|') {
      this.i++;
      branches.push(this.sequence());
    }
    if (branches.some((b) => b === null)) return null;
    return (branches as string[][]).flat();
  }

  /** The best requirement among a concatenation's parts: its longest shortest literal. */
  sequence(): Required {
    const candidates: string[][] = [];
    let run = '';
    const flush = () => {
      if (run) candidates.push([run]);
      run = '';
    };
    const src = this.src;
    while (this.i < src.length && src[this.i] !== '|' && src[this.i] !== ')') {
      const c = src[this.i] as string;
      if (c === '(') {
        flush();
        this.i++;
        if (src[this.i] === '?') {
          // (?:...), (?<name>...), (?P<name>...); flag groups were refused above.
          this.i++;
          if (src[this.i] === ':') this.i++;
          else if (src[this.i] === '<' || (src[this.i] === 'P' && src[this.i + 1] === '<')) {
            const close = src.indexOf('>', this.i);
            if (close < 0) throw new Error('unterminated group name');
            this.i = close + 1;
          } else throw new Error('unknown group');
        }
        const inner = this.alternation();
        if (src[this.i] !== ')') throw new Error('unbalanced');
        this.i++;
        if (!this.quantifierMakesOptional() && inner) candidates.push(inner);
        continue;
      }
      if (c === '[') {
        flush();
        this.skipClass();
        this.quantifierMakesOptional();
        continue;
      }
      if (c === '.' || c === '^' || c === '$') {
        flush();
        this.i++;
        this.quantifierMakesOptional();
        continue;
      }
      let literal: string | undefined;
      if (c === '\\') {
        const d = src[this.i + 1];
        if (d === undefined) throw new Error('trailing backslash');
        if (/[a-zA-Z0-9]/.test(d)) {
          // \d \s \b ..., \x41, \p{L}, \Q...\E: not a plain literal here.
          flush();
          this.i += 2;
          if (d === 'x' || d === 'p' || d === 'P') {
            if (src[this.i] === '{') this.i = src.indexOf('}', this.i) + 1 || src.length;
            else if (d === 'x') this.i += 2;
          } else if (!ESCAPE_CLASSES.has(d)) {
            throw new Error(`escape \\${d}`);
          }
          this.quantifierMakesOptional();
          continue;
        }
        literal = d;
        this.i += 2;
      } else if (c === '*' || c === '+' || c === '?' || c === '{') {
        // A quantifier with nothing before it, or a literal brace: give up on this part.
        flush();
        this.i++;
        continue;
      } else {
        literal = c;
        this.i++;
      }
      const q = this.peekQuantifier();
      if (q === 'optional') {
        flush();
        this.quantifierMakesOptional();
      } else if (q === 'repeat') {
        run += literal;
        flush();
        this.quantifierMakesOptional();
      } else {
        run += literal;
      }
    }
    flush();
    let best: string[] | null = null;
    const score = (set: string[]) => Math.min(...set.map((s) => s.length));
    for (const set of candidates) if (!best || score(set) > score(best)) best = set;
    return best;
  }

  /** What the quantifier at i (if any) does to the atom before it. */
  peekQuantifier(): 'optional' | 'repeat' | 'none' {
    const c = this.src[this.i];
    if (c === '*' || c === '?') return 'optional';
    if (c === '+') return 'repeat';
    if (c === '{') {
      const m = /^\{(\d+)(,\d*)?\}/.exec(this.src.slice(this.i));
      if (!m) return 'none';
      return Number(m[1]) === 0 ? 'optional' : 'repeat';
    }
    return 'none';
  }

  /** Consumes a quantifier (and a lazy `?` after it); true when the atom may be absent. */
  quantifierMakesOptional(): boolean {
    const q = this.peekQuantifier();
    if (q === 'none') return false;
    if (this.src[this.i] === '{') this.i = this.src.indexOf('}', this.i) + 1;
    else this.i++;
    if (this.src[this.i] === '?') this.i++;
    return q === 'optional';
  }

  skipClass(): void {
    const src = this.src;
    this.i++; // '['
    if (src[this.i] === '^') this.i++;
    if (src[this.i] === ']') this.i++;
    while (this.i < src.length && src[this.i] !== ']') {
      if (src[this.i] === '\\') this.i++;
      else if (src.startsWith('[:', this.i)) {
        const close = src.indexOf(':]', this.i);
        if (close >= 0) this.i = close + 1;
      }
      this.i++;
    }
    if (src[this.i] !== ']') throw new Error('unterminated class');
    this.i++;
  }
}
