/**
 * POSIX shell quoting for the commands vmbootfail prints as fixes. Written here
 * rather than taken from a package: the rule is one line (single quotes, and a
 * single quote as '\''), and every remedy must be safe to paste into sh/bash.
 */
const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

export function shellQuote(arg: string | number): string {
  const s = String(arg);
  if (s.length > 0 && SAFE.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A command line from its words, each quoted as needed. */
export function shellCommand(...words: (string | number)[]): string {
  return words.map(shellQuote).join(' ');
}
