#!/usr/bin/env node
// "Kernel is the oracle": every image of a corpus made by generate.mjs is mounted
// by the real Debian 12 guest kernel (linux-image-6.1.0-*-amd64) inside a
// throwaway QEMU/TCG VM. Nothing is ever mounted on this host.
//
//   node test/oracle/kernel-verdicts.mjs [--images DIR] [--out FILE] [--cache DIR] [--kernel-pkg NAME]
//
// defaults: --images ~/.cache/vmbootfail-oracle/images
//           --out    test/oracle/kernel-verdicts.json
//           --cache  ~/.cache/vmbootfail-oracle
// Needs (Debian): qemu-system-x86, busybox-static, cpio, kmod (depmod), gcc + libc6-dev (static helper).
//
// How: the images are laid one after another (1 MiB aligned, holes kept) into one
// raw file, attached TWICE as virtio disks with snapshot=on (so nothing persists,
// and the ro and rw attempts each see the pristine image). The initramfs holds
// busybox, the kernel's fs/crypto/lib/block/virtio modules, and oracle-helper
// (oracle-helper.c), which binds a loop device with offset+sizelimit (partscan for
// partitioned images) and calls mount(2). Results and the kernel's own messages
// (dmesg -r -c after each attempt) go to a second serial port captured in a file.
// If the guest kernel dies or hangs on an image, the VM is restarted after it.

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (n, d) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 ? argv[i + 1] : d;
};
const CACHE = opt('cache', path.join(os.homedir(), '.cache/vmbootfail-oracle'));
const IMAGES = opt('images', path.join(CACHE, 'images'));
const OUT = opt('out', path.join(HERE, 'kernel-verdicts.json'));
const STALL_S = Number(opt('stall-seconds', '300'));
const MiB = 1024 * 1024;
const sh = (cmd, args, o = {}) =>
  execFileSync(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 256 * MiB, ...o });

// ------------------------------------------------------------- the guest kernel
function kernelPackage() {
  const pinned = opt('kernel-pkg');
  if (pinned) return pinned;
  const dep = sh('apt-cache', ['depends', 'linux-image-amd64']).toString();
  const m = dep.match(/Depends: (linux-image-6\.1\.0-[0-9]+-amd64)\b/);
  if (!m)
    throw new Error(
      `cannot find the Debian 12 6.1 kernel package from apt-cache depends linux-image-amd64:\n${dep}`,
    );
  return m[1];
}
function prepareKernel() {
  const kdir = path.join(CACHE, 'kernel');
  fs.mkdirSync(kdir, { recursive: true });
  const pkg = kernelPackage();
  const kver = pkg.replace(/^linux-image-/, '');
  const root = path.join(kdir, 'root');
  if (!fs.existsSync(path.join(root, 'boot', `vmlinuz-${kver}`))) {
    let deb = fs.readdirSync(kdir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
    if (!deb) {
      sh('apt-get', ['download', pkg], { cwd: kdir });
      deb = fs.readdirSync(kdir).find((f) => f.startsWith(`${pkg}_`));
    }
    fs.rmSync(root, { recursive: true, force: true });
    sh('dpkg', ['-x', path.join(kdir, deb), root]);
  }
  const debName = fs.readdirSync(kdir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb')) ?? null;
  return { kver, root, vmlinuz: path.join(root, 'boot', `vmlinuz-${kver}`), deb: debName };
}

// ------------------------------------------------------------- initramfs
const INIT = `#!/bin/busybox sh
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo /sbin/modprobe > /proc/sys/kernel/modprobe
for m in crc32c_generic crc32c-intel libcrc32c xxhash_generic blake2b_generic virtio_pci virtio_blk loop \\
         jbd2 mbcache crc16 ext4 xfs raid6_pq xor btrfs fat vfat msdos nls_cp437 nls_ascii nls_iso8859-1 nls_utf8; do
  modprobe $m 2>/dev/null
done
mkdir -p /mnt
stty -F /dev/ttyS1 raw -echo -onlcr 115200 2>/dev/null
exec 3>/dev/ttyS1
START=0
for a in $(cat /proc/cmdline); do case $a in oracle.start=*) START=\${a#oracle.start=};; esac; done
i=0; while [ ! -b /dev/vdb ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
echo "@@BOOT $(uname -r) start=$START" >&3
dmesg -r -c | sed 's/^/@@B /' >&3
while read idx name off size part fstype; do
  [ "$idx" -lt "$START" ] && continue
  echo "@@IMG $idx $name" >&3
  for phase in ro rw; do
    if [ $phase = ro ]; then disk=/dev/vda; else disk=/dev/vdb; fi
    dmesg -c >/dev/null
    # btrfs_printk has global per-level ratelimits (10 per 5 s): let the window expire
    [ "$fstype" = btrfs ] && sleep 5.2
    res=$(timeout 240 /oracle-helper $disk $off $size $part $fstype $phase /mnt 2>&1 | tr '\\n' ' ')
    echo "@@RES $phase $res" >&3
    dmesg -r -c | sed 's/^/@@K /' >&3
    umount /mnt 2>/dev/null
  done
  echo "@@DONE $idx" >&3
done < /list.txt
echo "@@ALLDONE" >&3
sync
poweroff -f
`;

function buildInitramfs(k, list, work) {
  const ir = path.join(work, 'initramfs');
  fs.rmSync(ir, { recursive: true, force: true });
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'proc', 'sys', 'dev', 'mnt', 'tmp', 'lib/modules'])
    fs.mkdirSync(path.join(ir, d), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(ir, 'bin/busybox'));
  fs.chmodSync(path.join(ir, 'bin/busybox'), 0o755);
  sh('gcc', ['-static', '-O2', '-o', path.join(ir, 'oracle-helper'), path.join(HERE, 'oracle-helper.c')]);
  fs.writeFileSync(path.join(ir, 'init'), INIT, { mode: 0o755 });
  fs.writeFileSync(path.join(ir, 'list.txt'), list);
  // the modules a mount can need: all of fs/, crypto/, lib/, the block and virtio drivers
  const src = path.join(k.root, 'lib/modules', k.kver);
  const dst = path.join(ir, 'lib/modules', k.kver);
  for (const sub of [
    'kernel/fs',
    'kernel/crypto',
    'kernel/lib',
    'kernel/arch/x86/crypto',
    'kernel/drivers/block',
    'kernel/drivers/virtio',
  ]) {
    fs.cpSync(path.join(src, sub), path.join(dst, sub), { recursive: true });
  }
  for (const f of ['modules.order', 'modules.builtin', 'modules.builtin.modinfo'])
    if (fs.existsSync(path.join(src, f))) fs.copyFileSync(path.join(src, f), path.join(dst, f));
  sh('depmod', ['-b', ir, k.kver]);
  const files = sh('find', ['.', '-mindepth', '1'], { cwd: ir }).toString();
  const cpio = sh('cpio', ['-o', '-H', 'newc', '--quiet'], { cwd: ir, input: files });
  const out = path.join(work, 'initramfs.cpio');
  fs.writeFileSync(out, cpio);
  return out;
}

// ------------------------------------------------------------- corpus disk
function buildDisk(manifest, work) {
  const disk = path.join(work, 'corpus.raw');
  fs.rmSync(disk, { force: true });
  let off = 0;
  const rows = [];
  manifest.images.forEach((img, idx) => {
    const f = path.join(IMAGES, img.file);
    const size = fs.statSync(f).size;
    sh('dd', [
      `if=${f}`,
      `of=${disk}`,
      'bs=1M',
      `seek=${off}`,
      'oflag=seek_bytes',
      'conv=sparse,notrunc',
      'status=none',
    ]);
    const mountType = img.fs.startsWith('ext') ? 'ext4' : img.fs;
    rows.push({
      idx,
      name: img.name,
      off,
      size: Math.floor(size / 512) * 512,
      part: img.partitioned ? img.mountPartition : 0,
      mountType,
    });
    off += Math.ceil(size / MiB) * MiB + MiB;
  });
  sh('truncate', ['-s', String(off + MiB), disk]);
  return { disk, rows };
}

// ------------------------------------------------------------- run the VM
function runVm(k, initrd, disk, start, work, round) {
  const results = path.join(work, `results-${round}.txt`);
  const consoleLog = path.join(work, `console-${round}.log`);
  fs.writeFileSync(results, '');
  const args = [
    '-accel',
    'tcg',
    '-cpu',
    'qemu64',
    '-m',
    '1024',
    '-smp',
    '1',
    '-no-reboot',
    '-nodefaults',
    '-display',
    'none',
    '-monitor',
    'none',
    '-serial',
    `file:${consoleLog}`,
    '-serial',
    `file:${results}`,
    '-kernel',
    k.vmlinuz,
    '-initrd',
    initrd,
    '-append',
    `console=ttyS0 loglevel=4 panic=1 oops=panic printk.devkmsg=on rdinit=/init oracle.start=${start}`,
    '-drive',
    `file=${disk},format=raw,if=virtio,snapshot=on,cache=unsafe,file.locking=off`,
    '-drive',
    `file=${disk},format=raw,if=virtio,snapshot=on,cache=unsafe,file.locking=off`,
  ];
  return new Promise((resolve) => {
    const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'inherit', 'inherit'] });
    let lastSize = 0;
    let lastChange = Date.now();
    let killed = false;
    let lastDone = -1;
    const timer = setInterval(() => {
      const s = fs.statSync(results).size;
      if (s !== lastSize) {
        lastSize = s;
        lastChange = Date.now();
        const done = (fs.readFileSync(results, 'latin1').match(/@@DONE/g) || []).length;
        if (done !== lastDone && (process.stdout.isTTY || done % 50 === 0)) process.stdout.write(`\r  round ${round}: ${done} images done`);
        lastDone = done;
      } else if (Date.now() - lastChange > STALL_S * 1000) {
        killed = true;
        child.kill('SIGKILL');
      }
    }, 2000);
    child.on('exit', (code) => {
      clearInterval(timer);
      process.stdout.write('\n');
      resolve({ results, consoleLog, code, killed, args });
    });
  });
}

// ------------------------------------------------------------- interpretation
// warnings that are about age/maturity of a format, not the health of this filesystem
const BENIGN_WARNINGS = [/supports timestamps until 2038/, /Deprecated V4 format/, /EXPERIMENTAL/];
function parseResults(text, into, bootInfo) {
  let cur = null;
  let phase = null;
  for (const raw of text.replace(/\r/g, '').split('\n')) {
    if (raw.startsWith('@@BOOT ')) {
      bootInfo.push(raw.slice(7));
      continue;
    }
    if (raw.startsWith('@@IMG ')) {
      const [, idx, name] = raw.split(' ');
      cur = { idx: +idx, name, ro: null, rw: null, done: false };
      into.set(+idx, cur);
      continue;
    }
    if (!cur) continue;
    if (raw.startsWith('@@RES ')) {
      const [, ph, ...rest] = raw.split(' ');
      phase = ph;
      const kv = Object.fromEntries(
        rest
          .filter((t) => t.includes('='))
          .map((t) => [t.slice(0, t.indexOf('=')), t.slice(t.indexOf('=') + 1)]),
      );
      cur[ph] = { kv, raw: rest.join(' ').trim(), dmesg: [] };
    } else if (raw.startsWith('@@K ') && phase && cur[phase]) {
      const m = raw.slice(4).match(/^<(\d+)>(?:\[[^\]]*\]\s?)?(.*)$/);
      if (m) cur[phase].dmesg.push({ level: Number(m[1]) & 7, text: m[2] });
    } else if (raw.startsWith('@@DONE ')) cur.done = true;
  }
}
function phaseRecord(p, isRw) {
  if (!p) return { ok: false, errno: 'NO-RESULT', dmesg: [] };
  const kv = p.kv;
  // harness noise: loop capacity messages (and their ratelimit notice), the RNG
  const noise =
    /detected capacity change|^set_capacity_and_notify: \d+ callbacks suppressed|^random: crng init done/;
  const dmesg = p.dmesg.filter((l) => !noise.test(l.text)).map((l) => `<${l.level}>${l.text}`);
  const rec = { ok: kv.result === 'OK' };
  if (kv.result !== 'OK') rec.errno = kv.name ?? (p.raw || 'unknown');
  if (kv.result === 'OK' && isRw && !/^rw(,|$)/.test(kv.opts ?? '')) {
    rec.ok = false;
    rec.forcedReadOnly = true;
    rec.errno = null;
  }
  if (kv.name === 'NOPART') rec.reason = 'not mountable: no partition (the kernel created no such partition)';
  if (kv.parts) rec.partitions = kv.parts;
  if (kv.opts) rec.options = kv.opts;
  if (isRw && kv.probe) {
    rec.writeProbe = kv.probe;
    rec.optionsAfterWrite = kv.opts_after;
  }
  if (kv.umount) rec.umount = kv.umount;
  rec.dmesg = dmesg;
  // a filesystem's messages were ratelimited during this attempt (ext4's global "mounted filesystem"
  // ratelimit is informational only; anything else means lines may be missing)
  const sup = dmesg.filter((l) => /callbacks suppressed/.test(l));
  if (sup.length) rec.dmesgRatelimited = sup;
  return rec;
}
function verdictOf(ro, rw, rwRaw) {
  if (rw.ok) {
    const warn = (rwRaw?.dmesg ?? []).filter(
      (l) =>
        l.level <= 4 &&
        !BENIGN_WARNINGS.some((re) => re.test(l.text)) &&
        !/callbacks suppressed|set_capacity_and_notify/.test(l.text),
    );
    const wentRo = rw.optionsAfterWrite && !/^rw(,|$)/.test(rw.optionsAfterWrite);
    return warn.length || wentRo || (rw.writeProbe && rw.writeProbe !== 'OK')
      ? 'mounts-with-warning'
      : 'mounts';
  }
  if (ro.ok) return 'mounts-read-only-only';
  return 'will-not-mount';
}

// ------------------------------------------------------------- main
async function main() {
  const t0 = Date.now();
  const manifest = JSON.parse(fs.readFileSync(path.join(IMAGES, 'manifest.json'), 'utf8'));
  const work = path.join(CACHE, 'run');
  fs.mkdirSync(work, { recursive: true });
  const k = prepareKernel();
  console.log(`guest kernel ${k.kver} (${k.deb})`);
  const { disk, rows } = buildDisk(manifest, work);
  const list =
    rows.map((r) => `${r.idx} ${r.name} ${r.off} ${r.size} ${r.part} ${r.mountType}`).join('\n') + '\n';
  const initrd = buildInitramfs(k, list, work);
  console.log(
    `corpus disk ${disk} (${rows.length} images), initramfs ${(fs.statSync(initrd).size / MiB).toFixed(1)} MiB; prep ${Math.round((Date.now() - t0) / 1000)}s`,
  );

  const got = new Map();
  const boots = [];
  const crashes = [];
  let start = 0;
  let round = 0;
  const tVm = Date.now();
  while (start < rows.length && round < 40) {
    round++;
    const r = await runVm(k, initrd, disk, start, work, round);
    parseResults(fs.readFileSync(r.results, 'latin1'), got, boots);
    const done = [...got.values()].filter((g) => g.done).map((g) => g.idx);
    const allDone = fs.readFileSync(r.results, 'latin1').includes('@@ALLDONE');
    if (allDone) break;
    // the image being mounted when the VM died or stalled is itself a finding
    const inFlight = [...got.values()]
      .filter((g) => !g.done && g.idx >= start)
      .sort((a, b) => a.idx - b.idx)[0];
    const consoleTail = fs.readFileSync(r.consoleLog, 'latin1').split('\n').slice(-40);
    if (inFlight) {
      crashes.push({
        idx: inFlight.idx,
        name: inFlight.name,
        how: r.killed ? `no progress for ${STALL_S}s, VM killed` : `VM exited (code ${r.code})`,
        consoleTail,
      });
      inFlight.crashed = crashes[crashes.length - 1];
      start = inFlight.idx + 1;
    } else {
      const maxDone = done.length ? Math.max(...done) : start - 1;
      if (maxDone + 1 === start) {
        console.error('VM made no progress at all; console tail:\n' + consoleTail.join('\n'));
        break;
      }
      start = maxDone + 1;
    }
  }
  const vmSeconds = Math.round((Date.now() - tVm) / 1000);

  const verdicts = {};
  const kernelName = k.kver;
  for (const r of rows) {
    const g = got.get(r.idx);
    const img = manifest.images[r.idx];
    if (!g) {
      verdicts[r.name] = { kernel: kernelName, class: img.class, verdict: 'not-run' };
      continue;
    }
    if (g.crashed) {
      verdicts[r.name] = {
        kernel: kernelName,
        class: img.class,
        ro: phaseRecord(g.ro, false),
        rw: phaseRecord(g.rw, true),
        verdict: 'will-not-mount',
        kernelCrashedOrHung: g.crashed,
      };
      continue;
    }
    const ro = phaseRecord(g.ro, false);
    const rw = phaseRecord(g.rw, true);
    verdicts[r.name] = {
      kernel: kernelName,
      class: img.class,
      ro,
      rw,
      verdict: verdictOf(ro, rw, g.rw),
      ...(ro.ok === false && rw.ok === true ? { anomaly: 'rw mount succeeded where ro failed' } : {}),
    };
  }
  const summary = {};
  for (const v of Object.values(verdicts)) {
    summary[v.class] ??= {
      count: 0,
      mounts: 0,
      'mounts-with-warning': 0,
      'mounts-read-only-only': 0,
      'will-not-mount': 0,
      'not-run': 0,
    };
    summary[v.class].count++;
    summary[v.class][v.verdict]++;
  }
  const out = {
    kernel: kernelName,
    kernelPackage: k.deb,
    qemu: sh('qemu-system-x86_64', ['--version']).toString().split('\n')[0],
    generatedFrom: { manifestSeed: manifest.seed, images: rows.length },
    ranAt: new Date().toISOString(),
    vmSeconds,
    totalSeconds: Math.round((Date.now() - t0) / 1000),
    vmRounds: round,
    qemuCommand: `qemu-system-x86_64 -accel tcg -cpu qemu64 -m 1024 -no-reboot ... (see kernel-verdicts.mjs)`,
    bootInfo: [...new Set(boots)],
    crashes: crashes.map(({ consoleTail, ...c }) => ({ ...c, consoleTail: consoleTail.slice(-15) })),
    benignWarningPatterns: BENIGN_WARNINGS.map(String),
    summary,
    verdicts,
  };
  fs.writeFileSync(OUT, `${JSON.stringify(out, null, 1)}\n`);
  console.log(
    `wrote ${OUT}: ${rows.length} images, VM ${vmSeconds}s in ${round} round(s), total ${out.totalSeconds}s`,
  );
  console.table(summary);
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
