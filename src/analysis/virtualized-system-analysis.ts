import type { VcrState } from '../monitor/vcr-monitor.js';
import { XenbusState } from '../monitor/vcr-monitor.js';
import { shellQuote } from '../util/shell-quote.js';
import { xlString } from '../xl/config.js';
/** Virtualized System Analysis (paper module 8): what xenstore and the hypervisor show. */
import type { VmSpec } from '../xl/vm-spec.js';
import { type Cause, PAPER_FAULT } from './evidence.js';
import { commentedOutDiskEvidence, missingDiskRemedy } from './missing-disk.js';

/** Reads that stop this long before the verdict mean the guest gave up on the disk. */
const QUIET_READS_MS = 3000;

/** What the console said that the hypervisor's view is read with. */
export interface ConsoleCues {
  /** The initramfs said it waits for its root device (cue root-wait). */
  rootWait?: { at: number; line: string };
}

/** Whether vdev holds the root= device; unknown (UUID=, none) counts every disk. */
function isRootDisk(spec: VmSpec, vdev: string): boolean {
  const m = spec.rootDevice?.match(/^\/dev\/([a-z]+)\d*$/);
  return !m || m[1] === vdev;
}

export function analyseVirtualizedSystem(
  state: VcrState,
  spec: VmSpec,
  verdictAt: number,
  cues: ConsoleCues = {},
): Cause[] {
  const causes: Cause[] = [];
  const domid = state.domid;
  if (state.createFailed !== undefined) {
    const notPv = /no loader found|xc_dom_parse_image|elf_xen_note_check|Invalid kernel/i.test(
      state.createFailed,
    );
    if (notPv) {
      causes.push({
        code: 'UVKE',
        paperFault: PAPER_FAULT.UVKE,
        title: 'the kernel is not a Xen PV kernel (xl create cannot load it)',
        confidence: 0.9,
        evidence: [{ source: 'xl', detail: 'xl create failed', value: state.createFailed }],
        remedy: `use a kernel built with CONFIG_XEN_PV=y in: kernel = ${xlString(spec.kernel ?? '')}`,
      });
    }
    return causes;
  }
  if (domid === undefined) return causes;

  if (!state.sawVbdDirectory && state.vbds.size === 0) {
    causes.push({
      code: 'VMCE',
      paperFault: PAPER_FAULT.VMCE,
      title: 'the VM has no virtual disk: the disk line is missing from its configuration',
      confidence: spec.disks.length === 0 ? 0.85 : 0.5,
      evidence: [
        {
          source: 'xenstore',
          detail: 'no virtual block device registered for the domain (number of VBDs = 0)',
          value: `/local/domain/${domid}/device/vbd: absent`,
        },
        ...commentedOutDiskEvidence(spec),
      ],
      remedy: missingDiskRemedy(spec),
    });
  }

  for (const v of state.vbds.values()) {
    const backend = `/local/domain/0/backend/vbd/${domid}/${v.device}`;
    const vdev = spec.disks.find((d) => d.device === v.device)?.vdev ?? String(v.device);
    if (v.hotplugStatus === 'error' || v.hotplugError) {
      causes.push({
        code: 'HOTPLUG_ERROR',
        paperFault: PAPER_FAULT.HOTPLUG_ERROR,
        title: `${vdev}: the dom0 hotplug script could not attach the backing storage`,
        confidence: 0.9,
        disk: vdev,
        evidence: [
          {
            source: 'xenstore',
            detail: 'hotplug-error',
            value: `${backend}/hotplug-error=${v.hotplugError ?? ''}`,
          },
        ],
        remedy: `fix the target of ${vdev} (${v.params ?? '?'}): ${v.hotplugError ?? 'see the hotplug log in /var/log/xen'}`,
      });
    }
    if (v.sectors === 0 || v.backing?.sectors === 0) {
      const loop = v.params?.match(/^\/dev\/loop\d+$/) ? v.params : undefined;
      causes.push({
        code: 'UVDE',
        paperFault: PAPER_FAULT.UVDE,
        title: `${vdev}: the backing device ${v.params ?? ''} has 0 sectors${loop ? ' (a loop device with nothing attached)' : ''}`,
        confidence: 0.8,
        disk: vdev,
        evidence: [
          v.sectors === 0
            ? {
                source: 'xenstore',
                detail: 'the backend reports an empty disk',
                value: `${backend}/sectors=0`,
              }
            : {
                source: 'xenstore',
                ...(v.backing ? { at: v.backing.at } : {}),
                detail: `the backend's physical device has 0 sectors (/sys/dev/block/${v.backing?.physicalDevice}/size)`,
                value: `${backend}/physical-device=${v.backing?.physicalDevice}`,
              },
          ...(v.connectedAt !== undefined
            ? [{ source: 'xenstore' as const, at: v.connectedAt, detail: 'VBD connected (4/4) anyway' }]
            : []),
          {
            source: 'counters',
            detail: 'read/write requests',
            value: `rd_req=${v.counters.rd_req ?? 0} wr_req=${v.counters.wr_req ?? 0}`,
          },
        ],
        ...(loop ? { remedy: `losetup ${shellQuote(loop)} <image-file>` } : {}),
      });
    }
    const reads = v.counters.rd_req ?? 0;
    const quietFor = verdictAt - (v.readsChangedAt ?? v.connectedAt ?? verdictAt);
    if (v.connectedAt !== undefined && v.sectors !== 0 && reads > 0 && quietFor >= QUIET_READS_MS) {
      causes.push({
        code: 'DIDF',
        paperFault: PAPER_FAULT.DIDF,
        title: `${vdev}: the guest read the disk, found nothing it could use, and stopped`,
        // Alone this only says the guest is stuck; with a damaged disk found by inspection it is DIDF.
        confidence: 0.35,
        disk: vdev,
        evidence: [
          {
            source: 'counters',
            at: v.readsChangedAt ?? v.connectedAt,
            detail: `reads stopped after ${reads} requests, ${quietFor} ms before the verdict`,
            value: `rd_req=${reads}`,
          },
        ],
      });
    }
    const rootWait = cues.rootWait;
    if (rootWait && v.connectedAt !== undefined && v.sectors !== 0 && reads > 0 && isRootDisk(spec, vdev)) {
      causes.push({
        code: 'DIDF',
        paperFault: PAPER_FAULT.DIDF,
        title: `${vdev}: the guest reads the disk but finds no root filesystem on it`,
        // Also what a wrong root= shows; the inspector's finding on the disk makes it DIDF.
        confidence: 0.5,
        disk: vdev,
        evidence: [
          {
            source: 'console',
            at: rootWait.at,
            detail: 'the initramfs waits for its root device on a connected disk',
            value: rootWait.line,
          },
          { source: 'counters', detail: 'the guest read the disk', value: `rd_req=${reads}` },
        ],
      });
    }
    const guestHadItsChance = rootWait !== undefined || state.domainFlags.includes('crashed');
    if (
      guestHadItsChance &&
      v.frontendState === XenbusState.Initialising &&
      v.backendState === XenbusState.InitWait
    ) {
      // With the initramfs already waiting for root, its modules are loaded: none drives the disk.
      // Before that (a try decided early) an idle frontend only means the guest is still starting.
      causes.push({
        code: 'UVKE',
        paperFault: PAPER_FAULT.UVKE,
        title: `${vdev}: the guest kernel never started its block frontend (no xen-blkfront driver)`,
        confidence: rootWait ? 0.85 : 0.75,
        disk: vdev,
        evidence: [
          {
            source: 'xenstore',
            detail: 'frontend state 1 (Initialising), backend state 2 (InitWait)',
            value: `/local/domain/${domid}/device/vbd/${v.device}/state=1 ${backend}/state=2`,
          },
          ...(rootWait
            ? [
                {
                  source: 'console' as const,
                  at: rootWait.at,
                  detail: 'the initramfs waits for its root device with the frontend still not started',
                  value: rootWait.line,
                },
              ]
            : []),
        ],
        remedy:
          'build CONFIG_XEN_BLKDEV_FRONTEND=y into the kernel, or give the VM a ramdisk that holds xen-blkfront',
      });
    }
  }
  return causes;
}
