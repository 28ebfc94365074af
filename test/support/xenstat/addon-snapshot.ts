/** Child-process entry: one XenStat snapshot through the addon, as JSON on stdout. */
import { XenStat } from '../../../src/xen/xenstat.js';

const result = await new XenStat({ callTimeoutMs: 10_000 })
  .snapshot()
  .catch((e: { code?: string; message?: string }) => ({ error: { code: e.code, message: e.message } }));
process.stdout.write(JSON.stringify(result));
