/** Runs under the libxenstat shim (LD_PRELOAD acts at process start): times snapshots in-process. */
import { XenStat } from '../src/xen/xenstat.js';
import { time } from './stats.js';

const runs = Number(process.argv[2] ?? '50');
const stat = new XenStat();
process.stdout.write(JSON.stringify(await time('XenStat.snapshot', runs, () => stat.snapshot())));
