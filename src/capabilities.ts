/** What this host can do: which libraries load, whether it is a Xen dom0. Never throws. */
import { access, readFile } from 'node:fs/promises';
import { nativeAddon, nativeAddonStatus } from './native/loader.js';

export interface Capability {
  available: boolean;
  /** Why not, and what to install or run. */
  reason?: string;
}

export interface Capabilities {
  addon: Capability;
  /** libparted + libblkid + libext2fs: disk inspection works anywhere. */
  diskInspection: Capability;
  /** libxenstore loaded and a xenstored socket or xenbus device is present. */
  xenstore: Capability;
  /** libxenstat loaded and this is a Xen dom0 (xenstat needs privcmd). */
  xenstat: Capability;
  hypervisor: Capability & { type?: string };
}

async function readTrimmed(file: string): Promise<string | undefined> {
  return readFile(file, 'utf8').then(
    (s) => s.trim(),
    () => undefined,
  );
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

export async function capabilities(env: NodeJS.ProcessEnv = process.env): Promise<Capabilities> {
  const addon = nativeAddonStatus();
  const hypervisorType = await readTrimmed('/sys/hypervisor/type');
  const xenCaps = await readTrimmed('/proc/xen/capabilities');
  const isDom0 = xenCaps?.includes('control_d') ?? false;
  const hypervisor: Capabilities['hypervisor'] =
    hypervisorType === 'xen'
      ? { available: true, type: 'xen', ...(isDom0 ? {} : { reason: 'running on Xen, but not in dom0' }) }
      : {
          available: false,
          ...(hypervisorType ? { type: hypervisorType } : {}),
          reason: hypervisorType
            ? `the hypervisor is ${hypervisorType}, not Xen`
            : 'no hypervisor detected (/sys/hypervisor/type absent)',
        };

  if (!addon.loaded) {
    const missing: Capability = { available: false, reason: addon.reason ?? 'native addon not loaded' };
    return { addon: missing, diskInspection: missing, xenstore: missing, xenstat: missing, hypervisor };
  }
  const libs = nativeAddon().libraryStatus();

  const diskInspection: Capability = libs.parted.loaded
    ? { available: true }
    : { available: false, reason: libs.parted.reason ?? 'libparted not loaded' };

  const socket =
    env.XENSTORED_PATH ??
    (env.XENSTORED_RUNDIR ? `${env.XENSTORED_RUNDIR}/socket` : '/var/run/xenstored/socket');
  const xenstoreEndpoint = (await exists(socket))
    ? socket
    : (await exists('/dev/xen/xenbus'))
      ? '/dev/xen/xenbus'
      : undefined;
  const xenstore: Capability = !libs.xenstore.loaded
    ? { available: false, reason: libs.xenstore.reason ?? 'libxenstore not loaded' }
    : xenstoreEndpoint
      ? { available: true }
      : {
          available: false,
          reason: `no xenstored: neither ${socket} nor /dev/xen/xenbus exists (is xenstored running?)`,
        };

  const xenstat: Capability = !libs.xenstat.loaded
    ? { available: false, reason: libs.xenstat.reason ?? 'libxenstat not loaded' }
    : isDom0 && (await exists('/dev/xen/privcmd'))
      ? { available: true }
      : {
          available: false,
          reason: 'not a Xen dom0 (libxenstat needs /dev/xen/privcmd and the control domain)',
        };

  return { addon: { available: true }, diskInspection, xenstore, xenstat, hypervisor };
}
