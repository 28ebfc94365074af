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
  InspectOptions,
  MountSeverity,
  PartitionInfo,
} from './disk/inspector.js';
export { diagnoseLog, inspectConfig, testVm } from './api.js';
export type { DiagnoseLogOptions, InspectReport, TestVmOptions } from './api.js';
export { diagnoseConsole } from './analysis/diagnose.js';
export type { DiagnoseReport, DiagnoseVerdict } from './analysis/diagnose.js';
export type { BootTestReport, BootVerdict, Phase, TryReport } from './engine/boot-test.js';
export type { Cause, CauseCode, Evidence } from './analysis/evidence.js';
export { parseXlConfig, readXlConfig } from './xl/config.js';
export type { XlConfig, XlDisk } from './xl/config.js';
export { loadRules } from './analysis/console/rules.js';
export { checkKernelSuitability } from './kernel/kernel-suitability.js';
