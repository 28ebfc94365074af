/** The shape of the native addon, exactly as native/*.cc builds it. Internal. */

export interface NativeLibraryStatus {
  loaded: boolean;
  reason?: string;
}

export interface NativeXenStoreHandle {
  open(): Promise<void>;
  read(tx: number, path: string): Promise<Buffer | null>;
  directory(tx: number, path: string): Promise<string[] | null>;
  write(tx: number, path: string, value: Buffer): Promise<void>;
  mkdir(tx: number, path: string): Promise<void>;
  rm(tx: number, path: string): Promise<void>;
  getDomainPath(domid: number): Promise<string>;
  transactionStart(): Promise<number>;
  /** true when committed, false when the daemon asks for a retry (EAGAIN). */
  transactionEnd(tx: number, abort: boolean): Promise<boolean>;
  watch(path: string, token: string): Promise<void>;
  unwatch(path: string, token: string): Promise<void>;
  close(): Promise<void>;
  ref(): void;
  unref(): void;
}

export interface NativeVbd {
  device: number;
  type: number;
  error: boolean;
  ooRequests?: number;
  readRequests?: number;
  writeRequests?: number;
  readSectors?: number;
  writeSectors?: number;
}

export interface NativeDomain {
  id: number;
  name: string;
  running: boolean;
  blocked: boolean;
  paused: boolean;
  shutdown: boolean;
  crashed: boolean;
  dying: boolean;
  memory: number;
  maxMemory: number;
  cpuNs: number;
  vcpus: number;
  vbds: NativeVbd[];
}

export interface NativeNodeSnapshot {
  /** What libxenstat printed to stderr during the sample (captured, never shown). */
  libraryOutput: string;
  totalMemory: number;
  freeMemory: number;
  cpus: number;
  domains: NativeDomain[];
}

export interface NativePartedMessage {
  type: 'information' | 'warning' | 'error' | 'fatal' | 'bug' | 'no-feature';
  message: string;
  answer: string;
}

export interface NativePartedReport {
  label: string | null;
  sectorSize: number;
  lengthSectors: number;
  model: string;
  opened: boolean;
  openedReadOnly: boolean;
  /** libparted failed an internal assertion on this disk (it would have aborted the process): no label, no partitions. */
  abandoned: boolean;
  partitions: {
    number: number;
    kind: 'normal' | 'logical' | 'extended';
    startSector: number;
    lengthSectors: number;
    filesystem: string | null;
    name: string;
  }[];
  messages: NativePartedMessage[];
}

export interface NativeBlkidReport {
  ambivalent: boolean;
  values: Record<string, string>;
  partitionTable: {
    type: string;
    id: string;
    partitions: {
      number: number;
      startSector: number;
      sizeSectors: number;
      type: string;
      name: string;
      /** PARTUUID (GPT entry GUID, MBR "<signature>-<NN>"); empty when the table has none. */
      uuid: string;
    }[];
  } | null;
}

export interface NativeExt2Report {
  primaryValid: boolean;
  primaryErrorCode?: number;
  primaryError?: string;
  primaryProblem?:
    | 'bad-magic'
    | 'bad-checksum'
    | 'corrupt'
    | 'bad-group-descriptors'
    | 'truncated'
    | 'unsupported-feature'
    | 'other';
  backup: { block: number; blockSize: number } | null;
  blockSize?: number;
  blocks?: number;
  uuid?: string;
  label?: string;
  hasJournal?: boolean;
  metadataChecksums?: boolean;
  /** The primary superblock as read, whatever its magic; null when the disk is too short. */
  superblock: NativeExt2Superblock | null;
  /** libext2fs opened again ignoring checksums, to read descriptors and inodes (ext magic only). */
  deep?: NativeExt2Deep;
}

/** Fields of struct ext2_super_block (ext2fs/ext2_fs.h), raw. */
export interface NativeExt2Superblock {
  magic: number;
  revLevel: number;
  state: number;
  errors: number;
  logBlockSize: number;
  logClusterSize: number;
  blocksCountLo: number;
  blocksCountHi: number;
  inodesCount: number;
  firstDataBlock: number;
  blocksPerGroup: number;
  clustersPerGroup: number;
  inodesPerGroup: number;
  firstIno: number;
  inodeSize: number;
  descSize: number;
  featureCompat: number;
  featureIncompat: number;
  featureRoCompat: number;
  firstMetaBg: number;
  reservedGdtBlocks: number;
  logGroupsPerFlex: number;
  minExtraIsize: number;
  wantExtraIsize: number;
  checksumType: number;
  checksum: number;
  checksumComputed: number;
  journalInum: number;
  usrQuotaInum: number;
  grpQuotaInum: number;
  prjQuotaInum: number;
  mmpBlock: number;
  journalDev: number;
  journalUuidSet: boolean;
  encoding: number;
  mntCount: number;
  maxMntCount: number;
  creatorOs: number;
}

export interface NativeExt2Inode {
  read: boolean;
  error?: string;
  checksumValid: boolean;
  mode: number;
  links: number;
  flags: number;
  size: number;
  blocks: number;
}

export interface NativeExt2Deep {
  opened: boolean;
  openError?: string;
  checkDescError?: string;
  groups?: number;
  descriptorBlocks?: number;
  descriptorProblemCount?: number;
  /** ext4_check_descriptors' findings: what is block-bitmap|inode-bitmap|inode-table + -overlaps-superblock|-overlaps-descriptors|-not-in-group, or checksum. */
  descriptorProblems?: { group: number; what: string; block: number }[];
  rootInode?: NativeExt2Inode;
  journalInode?: NativeExt2Inode & {
    bmapError?: string;
    firstBlock: number;
    readError?: string;
    /** 1024 bytes of the journal superblock. */
    superblock?: Buffer;
  };
  /** Block 0 of the root directory, checked when the filesystem has metadata_csum. */
  rootDirBlock0?: { block: number; checksumValid: boolean };
  /** The multi-mount protection block (mmp feature), when s_mmp_block is inside the filesystem. */
  mmp?: { readError?: string; magic: number; sequence: number; checksumValid: boolean };
}

export interface NativeLoopReport {
  isLoop: boolean;
  attached: boolean;
  fileName?: string;
  offset?: number;
  sizeLimit?: number;
  readOnly?: boolean;
  autoclear?: boolean;
  partscan?: boolean;
}

export interface NativeFileReport {
  /** libext2fs opened the filesystem. */
  opened: boolean;
  found: boolean;
  /** Why not found (ENOENT, ENOTDIR, EISDIR, ENOTREG, or libext2fs's message). */
  error?: string;
  inode?: number;
  size?: number;
  bytes?: Buffer;
}

export interface NativeAddon {
  setErrorClass(cls: new (message: string, details: never) => Error): void;
  libraryStatus(): Record<'xenstore' | 'xenstat' | 'parted' | 'ext2fs' | 'blkid', NativeLibraryStatus>;
  XenStoreHandle: new (
    onWatch: (path: string, token: string) => void,
    onWatchError: (error: Error) => void,
  ) => NativeXenStoreHandle;
  xenstatSnapshot(withVbds: boolean): Promise<NativeNodeSnapshot>;
  partedProbe(path: string): Promise<NativePartedReport>;
  blkidProbe(path: string, offsetBytes: number, sizeBytes: number): Promise<NativeBlkidReport>;
  ext2Probe(path: string, offsetBytes: number): Promise<NativeExt2Report>;
  loopProbe(path: string): Promise<NativeLoopReport>;
  /** Raw bytes on the disk thread; at most 1 MiB, short at the end of the disk. */
  readArea(path: string, offsetBytes: number, lengthBytes: number): Promise<Buffer>;
  /** A regular file of an ext filesystem at offsetBytes, read-only; at most maxBytes (≤ 1 MiB) of it from fileOffset. */
  ext2ReadFile(
    path: string,
    offsetBytes: number,
    fileName: string,
    maxBytes: number,
    /** Where in the file to start (default 0). */
    fileOffset?: number,
  ): Promise<NativeFileReport>;
  /** libext2fs's CRC32C without final inversion. */
  crc32c(bytes: Buffer, seed: number): number;
  diskThreadReadOnly(): boolean;
}
