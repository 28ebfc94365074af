#!/usr/bin/env node
// One line from a `vmbootfail test --json` report: verdict, first cause, Th, first evidence, verdict time.
import fs from 'node:fs';
try {
  const r = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const t = r.tries?.[r.tries.length - 1]?.times ?? {};
  const s = (ms) => (typeof ms === 'number' ? `${(ms / 1000).toFixed(1)}s` : '-');
  const c = r.causes?.[0];
  console.log(
    `verdict=${r.verdict} cause=${c ? `${c.code}${c.disk ? `(${c.disk})` : ''}` : '-'} Th=${s(t.hardwareCreationMs)} evidence=${s(t.firstEvidenceMs)} verdict_at=${s(t.verdictMs)}`,
  );
} catch (e) {
  console.log(`no readable report (${e.message.split('\n')[0]})`);
}
