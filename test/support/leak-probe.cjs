// Drives every native entry point in a loop, for valgrind's leak check
// (scripts/test-sanitize.sh): disk probes on healthy and damaged images,
// calls that fail (missing files, no hypervisor, no xenstored), xenstore
// handles opened and closed. Plain CommonJS: tsx under valgrind is too slow.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const addon = require('bindings')({ bindings: 'vmbootfail', module_root: root });
class NativeError extends Error {
  constructor(message, details) {
    super(message);
    Object.assign(this, details);
  }
}
addon.setErrorClass(NativeError);

const rounds = Number(process.argv[2] ?? 30);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmbf-leak-'));
const sh = (cmd, args) => execFileSync(cmd, args, { stdio: 'ignore' });
const healthy = path.join(dir, 'healthy.img');
sh('truncate', ['-s', '64M', healthy]);
sh('parted', ['-s', healthy, 'mklabel', 'msdos', 'mkpart', 'primary', 'ext4', '1MiB', '100%']);
sh('mkfs.ext4', ['-q', '-F', '-E', 'offset=1048576', healthy, '63M']);
const damaged = path.join(dir, 'damaged.img');
fs.copyFileSync(healthy, damaged);
const fd = fs.openSync(damaged, 'r+');
fs.writeSync(fd, Buffer.alloc(4096), 0, 4096, 1048576); // partition 1's superblock
fs.closeSync(fd);

const settle = (p) =>
  p.then(
    () => undefined,
    () => undefined,
  );

(async () => {
  for (let i = 0; i < rounds; i++) {
    for (const img of [healthy, damaged, '/nonexistent.img']) {
      await settle(addon.partedProbe(img));
      await settle(addon.blkidProbe(img, 1048576, 0));
      await settle(addon.ext2Probe(img, 1048576));
      await settle(addon.ext2Probe(img, 0));
      await settle(addon.readArea(img, 1048576, 4096));
      addon.crc32c(Buffer.alloc(1024, i), 0xffffffff);
      await settle(addon.loopProbe(img));
    }
    await settle(addon.xenstatSnapshot(true));
    const store = new addon.XenStoreHandle(
      () => undefined,
      () => undefined,
    );
    await settle(store.open());
    await settle(store.close());
  }
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(`leak-probe: ${rounds} rounds done`);
})();
