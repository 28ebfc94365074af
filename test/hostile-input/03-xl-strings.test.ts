/**
 * Issue 10, item 10: xl config strings are read exactly as libxlutil reads them (xen
 * tools/libs/util/libxlu_cfg_l.l and xlu__cfgl_dequote() in libxlu_cfg.c).
 */
import { describe, expect, it } from 'vitest';
import { parseXlConfig, xlString } from '../../src/xl/config.js';

const kernel = (value: string) => parseXlConfig(`kernel = ${value}\n`, 'c.cfg').kernel;

describe('xl string escapes', () => {
  it.each([
    [String.raw`'it\'s.img'`, "it's.img"],
    [String.raw`"it\'s.img"`, "it's.img"],
    [String.raw`'back\\slash.img'`, 'back\\slash.img'],
    [String.raw`"back\\slash.img"`, 'back\\slash.img'],
    [String.raw`"a\rb"`, 'a\rb'],
    [String.raw`'a\rb'`, 'a\rb'],
    [String.raw`"\a\b\f\n\t\v"`, '\u0007\b\f\n\t\v'],
    [String.raw`'say \"hi\"'`, 'say "hi"'],
    // libxlutil's "octal" escape: the digit and two more are consumed, nothing is written.
    [String.raw`"x\101y"`, 'xy'],
  ])('%s reads as %j', (source, value) => {
    expect(kernel(source)).toBe(value);
  });

  it.each([
    [String.raw`"\q"`, 'invalid character after backlash in quoted string'],
    [String.raw`"\x41"`, 'invalid digit after backslash hex numerical character escape'],
    [String.raw`"\1"`, 'invalid digit after backslash octal numerical character escape'],
    [String.raw`'abc\'`, 'unterminated string'],
  ])('%s is an error, as in xl', (source, message) => {
    expect(() => kernel(source)).toThrow(message);
  });

  it('xlString() writes what xl reads back', () => {
    for (const v of ['plain', 'it\'s "quoted"', 'back\\slash', 'tab\there\nnewline\r']) {
      expect(kernel(xlString(v))).toBe(v);
    }
  });
});
