/**
 * What vmbootfail prints came partly from outside: paths and names from
 * configs and users, xenstore values written by hotplug scripts, console
 * lines from guests. On a terminal a newline there forges a line (a fake
 * "path: OK"), and ESC, CR or a bidi override rewrites what is shown. So:
 *
 * - text output: every line is passed through `printable()` after it is
 *   built, which writes control characters as escapes (\n, \r, \t, \x1b, ...)
 *   and invisible reordering characters as \u{...}; a line stays one line;
 * - JSON output: `safeJson()` also escapes what JSON.stringify leaves raw
 *   (DEL, C1 controls, U+2028/U+2029, bidi controls).
 */

// C0 controls, DEL, C1 controls; line/paragraph separators; bidi embeddings, overrides and isolates; BOM.
const UNPRINTABLE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;

/** C's named escapes for control characters; xl's strings (xl/config.ts) use the same ones. */
export const C_ESCAPES: Readonly<Record<string, string>> = {
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\u0007': '\\a',
  '\b': '\\b',
  '\f': '\\f',
  '\v': '\\v',
};

function escapeChar(c: string): string {
  const named = C_ESCAPES[c];
  if (named) return named;
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
}

/** One line of terminal text, with every control or reordering character written as an escape. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, escapeChar);
}

/** Lines, each made printable, joined by newlines. */
export function printableLines(lines: readonly string[]): string {
  return lines.map(printable).join('\n');
}

// What JSON.stringify leaves unescaped but a terminal or a JavaScript parser treats specially.
const JSON_RAW = /[\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;

/** JSON.stringify, with those characters (which can only occur inside strings) escaped as \uXXXX. */
export function safeJson(value: unknown, space = 2): string {
  return JSON.stringify(value, null, space).replace(
    JSON_RAW,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
