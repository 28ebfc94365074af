// Reads valgrind memcheck output (of test/support/leak-probe.cjs) and fails on
// what the addon itself does wrong: a leak that grows with the rounds (as many
// blocks as rounds or more) through vmbootfail.node, an invalid access with the
// addon on the stack, or an uninitialised value used in the addon's own code.
// One-time findings inside the libraries (libparted's constructor reads
// uninitialised bytes; glibc keeps dlopen bookkeeping) are listed, not failed.
//   node scripts/valgrind-check.mjs <valgrind-output> <rounds>
import { readFileSync } from 'node:fs';

const [file, roundsArg] = process.argv.slice(2);
const rounds = Number(roundsArg);
const lines = readFileSync(file, 'utf8').split('\n');
const records = [];
let current;
for (const line of lines) {
  const body = line.replace(/^==\d+==\s?/, '');
  if (!line.startsWith('==')) continue;
  if (body.trim() === '') {
    if (current) records.push(current);
    current = undefined;
  } else if (!current) current = { head: body.trim(), stack: [] };
  else current.stack.push(body.trim());
}
const ours = (frame) => frame.includes('vmbootfail.node');
const failures = [];
const notes = [];
for (const r of records) {
  const leak = r.head.match(/^([\d,]+) bytes in ([\d,]+) blocks are (definitely|indirectly) lost/);
  const invalid = /^(Invalid (read|write|free)|Mismatched free|Source and destination overlap)/.test(r.head);
  const uninit = /uninitialised/.test(r.head);
  if (!leak && !invalid && !uninit) continue;
  const text = `${r.head}\n    ${r.stack.slice(0, 12).join('\n    ')}`;
  if (leak && r.stack.some(ours)) {
    (Number(leak[2].replace(/,/g, '')) >= rounds ? failures : notes).push(text);
  } else if (invalid && r.stack.some(ours)) failures.push(text);
  else if (uninit && ours(r.stack[0] ?? '')) failures.push(text);
  else if (r.stack.some(ours)) notes.push(text);
}
const summary = lines.find((l) => l.includes('definitely lost:')) ?? '';
console.log(
  `valgrind: ${failures.length} finding(s) in the addon, ${notes.length} one-time finding(s) in the libraries it loads; ${summary.replace(/^==\d+==\s*/, '')}`,
);
for (const n of notes) console.log(`  (not failed) ${n.split('\n')[0]}`);
for (const f of failures) console.log(`FAIL ${f}`);
process.exit(failures.length > 0 ? 1 : 0);
