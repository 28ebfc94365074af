/**
 * A prefilter for the console rules: for each pattern, up to three sets of
 * literal strings such that every line the pattern matches holds one string of
 * each set. A line that lacks every string of a set cannot match the rule,
 * whose automaton is then not run on it (matcher.ts finds the strings a line
 * holds in one scan). Several sets make short literals useful: ": " alone is in
 * half of all console lines, ": " and one of sd, hd, vd, nvme in few.
 *
 * Written here because re2js has no prefilter (RE2's C++ FilteredRE2 is not
 * ported), and the alternative tried first, every rule as one alternation
 * compiled by re2js, was slower than trying the rules one by one (measured on
 * the corpus: 1351 ms against 179 ms for 120 rules). The extraction is
 * conservative: anything it does not understand (a flag group, a wide class, an
 * optional part) gives no requirement, never a wrong one; a test and a fuzz
 * target check that prefiltered and unfiltered matching agree.
 */

/** Sets of literals: every line the pattern matches holds one literal of each set. */
type Required = string[][];

/**
 * A set whose literals are this short or shorter is kept only beside another set: alone it is in too
 * many lines to skip any (": "), with another ("sd", "vd" ... of a disk name) both together are rare.
 */
const SHORT_LITERAL = 2;
/** More sets than this cost more `includes` calls than they save. */
const MAX_SETS = 3;
/** A class of at most this many plain characters, unquantified, multiplies a literal run ([shv]d). */
const SMALL_CLASS = 4;
/** ... while the run has at most this many alternatives. */
const MAX_RUN_ALTERNATIVES = 16;

/**
 * Sets of strings such that every match of `source` (RE2 syntax) holds one string of each set, the
 * most selective set first; null when no set worth using is known.
 */
export function requiredLiterals(source: string): string[][] | null {
  // A flag group without ':' changes the rest of the pattern ((?i)panic): not filtered. A scoped one,
  // (?i:warning), is opaque: it gives no requirement, the rest of the pattern still does.
  if (/\(\?[a-zA-Z]+\)/.test(source)) return null;
  const parser = new Parser(source);
  let sets: Required;
  try {
    sets = parser.alternation();
    if (parser.i !== source.length) return null; // an unbalanced ')': RE2 would have refused it
  } catch {
    return null;
  }
  const shortest = (set: string[]) => Math.min(...set.map((l) => l.length));
  const useful = sets
    .filter((set) => set.length > 0 && shortest(set) >= SHORT_LITERAL)
    .map((set) => [...new Set(set)])
    .sort((a, b) => shortest(b) - shortest(a))
    .slice(0, MAX_SETS);
  if (useful.length === 0) return null;
  if (shortest(useful[0] as string[]) <= SHORT_LITERAL && useful.length < 2) return null;
  return useful;
}

const ESCAPE_CLASSES = new Set(['d', 'D', 's', 'S', 'w', 'W', 'b', 'B', 'A', 'z', 'C']);

class Parser {
  i = 0;
  constructor(readonly src: string) {}

  /** A branch's requirement holds for the alternation only as the union of one set per branch. */
  alternation(): Required {
    const branches: Required[] = [this.sequence()];
    while (this.src[this.i] === '|') {
      this.i++;
      branches.push(this.sequence());
    }
    if (branches.length === 1) return branches[0] as Required;
    const best = branches.map((b) => bestSet(b));
    if (best.some((b) => b === undefined)) return [];
    return [(best as string[][]).flat()];
  }

  /** Every part of a concatenation is required: each gives its sets. */
  sequence(): Required {
    const sets: Required = [];
    // The literal run being read, as its alternatives ([shv]d gives sd, hd, vd).
    let run: string[] = [''];
    const flush = () => {
      if (run.every((r) => r.length > 0)) sets.push(run);
      run = [''];
    };
    const append = (chars: string[]) => {
      run = run.flatMap((r) => chars.map((c) => r + c));
    };
    const src = this.src;
    while (this.i < src.length && src[this.i] !== '|' && src[this.i] !== ')') {
      const c = src[this.i] as string;
      if (c === '(') {
        flush();
        this.i++;
        let opaque = false;
        if (src[this.i] === '?') {
          // (?:...), (?<name>...), (?P<name>...), (?flags:...)
          this.i++;
          const flags = /^[a-zA-Z]+:/.exec(src.slice(this.i));
          if (src[this.i] === ':') this.i++;
          else if (flags) {
            this.i += flags[0].length;
            opaque = true;
          } else if (src[this.i] === '<' || (src[this.i] === 'P' && src[this.i + 1] === '<')) {
            const close = src.indexOf('>', this.i);
            if (close < 0) throw new Error('unterminated group name');
            this.i = close + 1;
          } else throw new Error('unknown group');
        }
        const inner = this.alternation();
        if (src[this.i] !== ')') throw new Error('unbalanced');
        this.i++;
        if (!this.quantifierMakesOptional() && !opaque) sets.push(...inner);
        continue;
      }
      if (c === '[') {
        const chars = this.smallClass();
        const optional = this.peekQuantifier() !== 'none';
        if (chars && !optional && run.length * chars.length <= MAX_RUN_ALTERNATIVES) append(chars);
        else {
          flush();
          this.quantifierMakesOptional();
        }
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
        append([literal]);
        flush();
        this.quantifierMakesOptional();
      } else {
        append([literal]);
      }
    }
    flush();
    return sets;
  }

  /** A class of a few plain characters ([shv], not [a-z], [^x] or [\d]): its characters; else skipped, undefined. */
  smallClass(): string[] | undefined {
    const start = this.i;
    this.skipClass();
    const body = this.src.slice(start + 1, this.i - 1);
    if (body.length === 0 || body.length > SMALL_CLASS || /[\\^\-[\]]/.test(body)) return undefined;
    return [...new Set(body)];
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

/** The most selective set: the one whose shortest literal is longest. */
function bestSet(sets: Required): string[] | undefined {
  let best: string[] | undefined;
  const shortest = (set: string[]) => Math.min(...set.map((l) => l.length));
  for (const set of sets) if (!best || shortest(set) > shortest(best)) best = set;
  return best;
}
