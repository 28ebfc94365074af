#!/usr/bin/env node
/**
 * The same job as record.mjs, done by the project's own recorder
 * (src/driver/recorder.ts over XenDriver, built in /opt/vmbootfail/dist).
 * run-plan.sh uses it with RECORDER=project (run.sh --recorder project);
 * when it records as much as record.mjs, it becomes the default.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';

const { values: opt } = parseArgs({
  options: {
    config: { type: 'string' },
    name: { type: 'string' },
    out: { type: 'string' },
    'xl-log': { type: 'string' },
    until: { type: 'string', default: '180' },
    'after-end': { type: 'string', default: '3' },
    'console-dir': { type: 'string', default: '/var/log/xen/console' },
    header: { type: 'string', multiple: true, default: [] },
  },
});
const root = process.env.VMBF_PROJECT ?? '/opt/vmbootfail';
const { XenDriver } = await import(`${root}/dist/src/driver/xen-driver.js`);
const { recordBoot } = await import(`${root}/dist/src/driver/recorder.js`);
const { formatTimeline } = await import(`${root}/dist/src/driver/timeline.js`);

const driver = await XenDriver.open({ consoleLogDir: opt['console-dir'] });
try {
  fs.unlinkSync(`${opt['console-dir']}/guest-${opt.name}.log`);
} catch {}
const rec = await recordBoot(driver, opt.config, opt.name, {
  untilMs: Number(opt.until) * 1000,
  afterEndMs: Number(opt['after-end']) * 1000,
});
const header = [
  ...opt.header,
  `recorded by the project's recorder (src/driver/recorder.ts + XenDriver, ${root})`,
  `times are seconds after 'xl create' started; domid ${rec.created?.domid ?? '-'}; ended by ${rec.endedBy}`,
];
fs.writeFileSync(opt.out, formatTimeline(rec.signals, header));
const xl = rec.signals.find((s) => s.source === 'xl');
if (opt['xl-log']) fs.writeFileSync(opt['xl-log'], `${JSON.stringify(xl ?? null)}\n`);
console.log(
  JSON.stringify({
    name: opt.name,
    domid: rec.created?.domid ?? null,
    th: xl?.event === 'created' ? xl.at / 1000 : null,
    endedBy: rec.endedBy,
    events: rec.signals.length,
  }),
);
await driver.close();
process.exit(0);
