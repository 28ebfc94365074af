/**
 * A `kernel =` that is a boot loader, not Linux: GRUB 2 built for Xen ("pvgrub2": Debian's
 * grub-xen-host /usr/lib/grub-xen/grub-x86_64-xen.bin for PV, grub-i386-xen_pvh.bin for PVH;
 * grub-mkimage -O x86_64-xen / i386-xen_pvh). It boots the kernel the guest's own grub.cfg names,
 * from the guest's disks, as pygrub does from dom0; so the kernel to judge is that one, not this
 * image, which has no Linux version or config of its own.
 */
import { UnsafeFileError, readRegularFileAt } from '../util/safe-open.js';
import { type Compression, detectCompression } from './compression.js';
import { bzImageHeader, inspectKernelImage } from './kernel-image.js';

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

/**
 * Payload compressions GRUB's Xen PV loader reads through its file filters: io/gzio.c, io/xzio.c and
 * io/lzopio.c are GRUB's only decompressing filters (grub-core/io/, coreos/grub; the same in 2.12),
 * and grub_file_offset_open() stacks them on the bzImage payload.
 */
const GRUB_XEN_PAYLOADS: ReadonlySet<Compression> = new Set(['gzip', 'xz', 'lzo']);
const BZIMAGE_HEADER_BYTES = 0x250;

/**
 * Why pvgrub2 in a PV guest cannot load this kernel, or undefined when it can (or this is not a
 * kernel it would even try). grub-core/loader/i386/xen_file.c grub_xen_file(): an ELF image loads
 * as it is; a bzImage needs boot protocol 2.08 and a payload that is ELF, or that one of GRUB's
 * filters unpacks to ELF. Anything else GRUB refuses ("not xen image": Debian 12's 2.06 printed
 * "error: not a xen image.", corpus 092: a zstd kernel, NixOS) and stays at its menu or prompt.
 * libxc would load the same kernel as a kernel = (it unpacks zstd, lz4, bzip2 and lzma too).
 * A PVH guest's GRUB boots Linux by its own boot protocol, and the kernel unpacks itself.
 */
export async function pvgrubXenLoaderRefusal(kernelPath: string): Promise<string | undefined> {
  const head = await readRegularFileAt(kernelPath, 0, BZIMAGE_HEADER_BYTES, { what: 'kernel' });
  if (head.length >= 4 && head.readUInt32BE(0) === ELF_MAGIC) return undefined;
  // GRUB also wants the boot flag 0xaa55 the kernel's own parser does not look at.
  const bz =
    head.length >= BZIMAGE_HEADER_BYTES && head.readUInt16LE(0x1fe) === 0xaa55
      ? bzImageHeader(head)
      : undefined;
  if (!bz) return 'it is neither an ELF image nor a bzImage ("not xen image")';
  const { protocol } = bz;
  if (protocol < 0x0208)
    return `its boot protocol ${protocol >> 8}.${(protocol & 0xff).toString().padStart(2, '0')} is older than 2.08 ("version too old for xen boot")`;
  const magic = await readRegularFileAt(kernelPath, bz.payloadOffset, 16, { what: 'kernel' });
  if (magic.length >= 4 && magic.readUInt32BE(0) === ELF_MAGIC) return undefined;
  const compression = detectCompression(magic);
  if (compression && GRUB_XEN_PAYLOADS.has(compression)) return undefined;
  return compression
    ? `its payload is ${compression}-compressed, and GRUB unpacks only gzip, xz and lzo (GRUB 2.06: "error: not xen image.")`
    : 'its payload is neither ELF nor compressed in a format GRUB reads ("error: not xen image.")';
}
