/** vmbootfail: notice within seconds that a new Xen VM fails to boot, and name the virtual-disk cause. */
export { ErrorCode, VmbootfailError } from './errors.js';
export type { ErrorDetails } from './errors.js';
export { capabilities } from './capabilities.js';
export type { Capabilities, Capability } from './capabilities.js';
export { XenStore } from './xen/xenstore.js';
export type { XenStoreEvents, XenStoreOptions, XenStoreTransaction } from './xen/xenstore.js';
export { XenStat } from './xen/xenstat.js';
export type { DomainStats, NodeSnapshot, VbdStats, XenStatOptions } from './xen/xenstat.js';
export { DiskInspector } from './disk/inspector.js';
export type {
  DiskFinding,
  DiskFindingCode,
  DiskInspection,
  DiskInspectorOptions,
  Ext2State,
  FilesystemInfo,
  PartitionInfo,
} from './disk/inspector.js';
