/**
 * A `kernel =` that is a boot loader, not Linux: GRUB 2 built for Xen ("pvgrub2": Debian's
 * grub-xen-host /usr/lib/grub-xen/grub-x86_64-xen.bin for PV, grub-i386-xen_pvh.bin for PVH;
 * grub-mkimage -O x86_64-xen / i386-xen_pvh). It boots the kernel the guest's own grub.cfg names,
 * from the guest's disks, as pygrub does from dom0; so the kernel to judge is that one, not this
 * image, which has no Linux version or config of its own.
 */
import { UnsafeFileError, readRegularFileAt } from '../util/safe-open.js';
import { inspectKernelImage } from './kernel-image.js';

export type PvBootloader = 'pvgrub';

/** How far into the image GRUB's module-info magic is looked for (the core image is ~40 KiB in). */
const GRUB_MAGIC_WINDOW = 256 * 1024;
/** include/grub/kernel.h GRUB_MODULE_MAGIC 0x676d696d, little-endian in the image: "mimg". */
const GRUB_MODULE_MAGIC = Buffer.from('mimg', 'latin1');
const ELF_MAGIC = 0x7f454c46;

export async function pvBootloaderOf(kernelPath: string): Promise<PvBootloader | undefined> {
  let head: Buffer;
  try {
    head = await readRegularFileAt(kernelPath, 0, GRUB_MAGIC_WINDOW, { what: 'kernel' });
  } catch (error) {
    if (error instanceof UnsafeFileError) return undefined;
    throw error;
  }
  // GRUB's Xen images are plain ELF. A bzImage (every distribution kernel) is not GRUB, and reading
  // its notes would mean decompressing it, which the kernel check does once already.
  if (head.length < 4 || head.readUInt32BE(0) !== ELF_MAGIC) return undefined;
  // No external readnotes: the notes of an ELF image are read directly, which is all this needs.
  const image = await inspectKernelImage(kernelPath, { toolDirs: [], timeoutMs: 5000, readnotes: undefined });
  // The PV image's Xen note GUEST_OS (type 6) is PACKAGE_NAME, "GRUB" (util/grub-mkimagexx.c, the
  // XEN NOTE segment), where Linux's is "linux".
  if (image.xenNotes.includes('GUEST_OS=GRUB')) return 'pvgrub';
  // The PVH image has one note, PHYS32_ENTRY, and no GUEST_OS; Linux always names itself. GRUB's
  // core image carries its modules behind a grub_module_info header whose magic its code also holds.
  const pvhOnly =
    image.format === 'elf' &&
    image.xenNotes.includes('PHYS32_ENTRY') &&
    !image.xenNotes.some((n) => n.startsWith('GUEST_OS='));
  return pvhOnly && head.includes(GRUB_MODULE_MAGIC) ? 'pvgrub' : undefined;
}
