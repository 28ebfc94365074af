/**
 * Why `xl create` failed, from xl's and libxl's own error text (Xen 4.17:
 * tools/xl/xl_vmcontrol.c, tools/libs/light/libxl_bootloader.c,
 * libxl_device.c and libxl_exec.c for hotplug scripts, tools/libs/guest
 * xc_dom_core.c / xc_dom_boot.c for the kernel loader). The text is always kept
 * as evidence, recognised or not.
 */
import { type Cause, type CauseCode, PAPER_FAULT } from './evidence.js';

interface XlPattern {
  code: CauseCode;
  match: RegExp;
  title: string;
  remedy: string;
}

const PATTERNS: XlPattern[] = [
  {
    // xl_vmcontrol.c create_domain(): freemem() could not make room; libxc: can't allocate.
    code: 'VMCE',
    match:
      /failed to free memory for the domain|xc_dom_boot_mem_init: can't allocate|Cannot allocate memory|Out of memory/i,
    title: 'the host has not enough free memory for the memory = the config asks',
    remedy:
      'lower memory = in the config, free host memory (xl mem-set 0 ..., stop a domain), or check xl info free_memory',
  },
  {
    // libxl_bootloader.c: pygrub (or another bootloader) runs in dom0 before the domain exists.
    code: 'DIDF',
    match:
      /bootloader failed|boot loader didn't return any data|Unable to find partition containing kernel|pygrub|bootloader/i,
    title: 'the bootloader (pygrub) failed in dom0: it found no bootable kernel on the guest disk',
    remedy:
      "check the guest disk's /boot/grub/grub.cfg and the kernel it names (pygrub -l DISK lists the entries)",
  },
  {
    // libxl_device.c / libxl_exec.c: the block hotplug script could not attach the backing storage.
    code: 'HOTPLUG_ERROR',
    // libxl_device.c device_backend_callback() "unable to add device with path ..." and libxl_create.c
    // "unable to add disk devices" follow a failed hotplug script (the script's own line may be in
    // another log: /var/log/xen/xen-hotplug.log).
    match:
      /\/etc\/xen\/scripts\/\S+|hotplug|libxl__device_disk_set_backend|Disk vdev=\S+ failed|unable to add (?:disk )?devices?\b|device_backend_callback/i,
    title: 'the disk hotplug script failed in dom0: the backing storage could not be attached',
    remedy:
      'check the disk = [ ... ] target exists and is not in use (losetup -a, lvs), and /var/log/xen/xen-hotplug.log',
  },
  {
    // xc_dom_core.c: no loader recognises the kernel image (not a PV kernel, compressed oddly, missing).
    code: 'UVKE',
    match:
      /xc_dom_find_loader|no loader found|Invalid kernel|xc_dom_parse_image failed|xc_dom_kernel_file failed|xc_dom_ramdisk_file failed|panic: xc_dom/i,
    title: 'the kernel (or ramdisk) named in the config cannot be loaded as a Xen guest kernel',
    remedy:
      'point kernel = at a PV-capable kernel (CONFIG_XEN_PV) that exists in dom0, and ramdisk = at its initrd',
  },
];

export function analyseXlFailure(message: string): Cause {
  const text = message.trim() || '(xl printed nothing)';
  const hit = PATTERNS.find((p) => p.match.test(text));
  const code: CauseCode = hit?.code ?? 'UNKNOWN_KERNEL';
  return {
    code,
    paperFault: PAPER_FAULT[code],
    title: hit ? hit.title : 'xl create failed for a reason vmbootfail does not recognise',
    confidence: hit ? 0.85 : 0.5,
    evidence: [{ source: 'xl', detail: 'xl create failed', value: text }],
    remedy: hit ? hit.remedy : 'read the xl error above; xl -vvv create CONFIG prints more',
  };
}

/**
 * xl's and libxl's error lines found in a saved log (rules with cue xl-error): one cause for them all,
 * as `xl create`'s whole output is one in the engine, with each line as console evidence.
 */
export function xlFailureFromLog(lines: { line: string; at: number; ruleId: string }[]): Cause | undefined {
  if (lines.length === 0) return undefined;
  const cause = analyseXlFailure(lines.map((l) => l.line).join('\n'));
  return {
    ...cause,
    evidence: lines.slice(0, 8).map((l) => ({
      source: 'console' as const,
      at: l.at,
      detail: `rule ${l.ruleId}`,
      value: l.line,
    })),
  };
}
