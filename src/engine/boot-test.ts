/**
 * One boot test as an explicit state machine (paper Fig. 3, with evidence
 * instead of hangs deciding each try):
 *
 *   pre-check ──> create ──> watch-boot ──> verdict ──┬──> retry ──> create
 *       │                                             ├──> analysis ──> cleanup ──> done
 *       └──────────────────(refused)──────────────────┴──────────────────┘
 */
import { EventEmitter } from 'node:events';
import { type Cause, type Evidence, mergeCauses } from '../analysis/evidence.js';
import { guestBootNeeds } from '../analysis/guest-boot-needs.js';
import { analyseConsole, unknownKernelProblem } from '../analysis/syslog-analysis.js';
import { analyseVirtualDisks } from '../analysis/virtual-disk-analysis.js';
import { analyseVirtualizedSystem } from '../analysis/virtualized-system-analysis.js';
import { analyseXlFailure } from '../analysis/xl-failure.js';
import { faultFindings } from '../disk/inspector.js';
import type { BootDriver, CreatedDomain } from '../driver/driver.js';
import { ErrorCode, VmbootfailError } from '../errors.js';
import { versionFromKernelFileName } from '../kernel/kernel-config.js';
import {
  type CertainFailure,
  type PreflightResult,
  certainFailureOf,
  preflight,
} from '../monitor/pre-checking.js';
import type { KernelCheck, PreflightDeps } from '../monitor/pre-checking.js';
import { VcrMonitor, type VcrState } from '../monitor/vcr-monitor.js';
import { guestKernelOf, inspectVmDisks } from '../monitor/virtual-disk-information-inspector.js';
import { type BootDecision, VmBootFailDetector } from '../monitor/vm-boot-fail-detector.js';
import {
  type ConsoleMatch,
  type ConsoleMatcherLike,
  VmConsoleMonitor,
} from '../monitor/vm-console-monitor.js';
import { VmCreationMonitor } from '../monitor/vm-creation-monitor.js';
import { wholeDiskDevice } from '../xl/config.js';
import { type VmSpec, expectsRootDisk } from '../xl/vm-spec.js';

export type Phase =
  | 'pre-check'
  | 'create'
  | 'watch-boot'
  | 'verdict'
  | 'retry'
  | 'analysis'
  | 'cleanup'
  | 'done';

const TRANSITIONS: Record<Phase, Phase[]> = {
  // verdict: the preflight proved the boot cannot succeed, so no domain is created.
  'pre-check': ['create', 'verdict', 'cleanup'],
  create: ['watch-boot'],
  'watch-boot': ['verdict'],
  verdict: ['retry', 'analysis'],
  retry: ['create'],
  analysis: ['cleanup'],
  cleanup: ['done'],
  done: [],
};

/** The report's reason when the preflight decided and no domain was created (bootDespitePreflight creates it). */
export const DECIDED_WITHOUT_DOMAIN =
  'the preflight proved the boot cannot succeed, so no domain was created';

export type BootVerdict = 'OK' | 'TRANSIENT' | 'PERMANENT' | 'ERROR' | 'ABORTED' | 'REFUSED';

export type TryOutcome = 'booted' | 'failed' | 'time-limit' | 'vanished' | 'observer-lost' | 'aborted';

export interface TryReport {
  index: number;
  domid?: number;
  outcome: TryOutcome;
  reason?: string;
  /** All in ms since `xl create` started; for a try decided by the preflight without a domain, since the test started. */
  times: {
    /** Th: `xl create` returned (virtual hardware created). */
    hardwareCreationMs?: number;
    /** First failure evidence seen. */
    firstEvidenceMs?: number;
    /** When the verdict was reached: Tf for a failure, the boot time for a success. */
    verdictMs: number;
    /** Td as the issue defines it: first evidence to verdict. */
    evidenceToVerdictMs?: number;
    /** The paper's Td: hardware created to verdict (Tf = Th + Td). */
    creationToVerdictMs?: number;
  };
  evidence: Evidence[];
  destroyed: boolean;
}

export interface BootTestOptions {
  /** Tries after the first (paper default 3). */
  retries?: number;
  /** Per try. Real TCG boots take ~60 s, hardware 8–16 s. Default 120000. */
  timeLimitMs?: number;
  /** Keep the VM after a failed final try, for a human to look at. */
  keepOnFailure?: boolean;
  signal?: AbortSignal;
  /** Makes a fresh console matcher per try. */
  consoleMatcher: () => ConsoleMatcherLike;
  checkKernel?: (spec: VmSpec, rootFsType: string | null) => Promise<KernelCheck | undefined>;
  /** Whether kernel = is a PV boot loader (pvgrub2): see PreflightDeps. */
  pvBootloaderOf?: PreflightDeps['pvBootloaderOf'];
  /**
   * Create the domain even when the preflight proved the boot cannot succeed; the try is then decided
   * when the domain exists, as the paper does. By default no domain is created and the verdict comes
   * from the preflight alone.
   */
  bootDespitePreflight?: boolean;
  /** Detector tunables, mostly for tests. */
  quietReadsMs?: number;
}

export interface BootTestReport {
  schemaVersion: 1;
  vm: { name: string; configPath: string };
  verdict: BootVerdict;
  reason?: string;
  tries: TryReport[];
  /** Most likely first. */
  causes: Cause[];
  preflight: PreflightResult;
  /** The console of the last try that failed (or the only one), sanitised. */
  consoleTail: string;
  retries: number;
  timeLimitMs: number;
  keptDomain?: CreatedDomain;
  totalMs: number;
}

export interface BootTestEvents {
  phase: [phase: Phase, tryIndex: number];
  /** Once per observed signal: for a "Testing Time" display. */
  progress: [progress: { tryIndex: number; elapsedMs: number; timeLimitMs: number }];
  try: [report: TryReport];
}

interface TryState {
  report: TryReport;
  vcr: VcrState;
  console: ConsoleMatch[];
  ramdiskMayLoadDrivers: boolean;
  consoleTail: string;
  created?: CreatedDomain;
}

export class BootTest extends EventEmitter<BootTestEvents> {
  #phase: Phase = 'pre-check';
  /** The first error a caller's listener threw. */
  #listenerError: { event: string; error: unknown } | undefined;
  /** Domains this test created and has neither destroyed nor handed over (kept). */
  readonly #live = new Map<number, CreatedDomain>();
  readonly #retries: number;
  readonly #timeLimitMs: number;

  constructor(
    private readonly spec: VmSpec,
    private readonly driver: BootDriver,
    private readonly options: BootTestOptions,
  ) {
    super();
    this.#retries = options.retries ?? 3;
    this.#timeLimitMs = options.timeLimitMs ?? 120_000;
    if (!Number.isInteger(this.#retries) || this.#retries < 0)
      throw new VmbootfailError('retries must be a whole number >= 0', { code: ErrorCode.INVALID_ARGUMENT });
    if (!(this.#timeLimitMs > 0))
      throw new VmbootfailError('timeLimitMs must be > 0', { code: ErrorCode.INVALID_ARGUMENT });
  }

  get phase(): Phase {
    return this.#phase;
  }

  /**
   * Calls the listeners of `event` so that none can derail the test: a listener that throws (or returns
   * a promise that rejects) is remembered, the test runs on to its cleanup, which destroys the domain it
   * created, and run() then rejects with ERR_CALLBACK and the listener's error as its cause.
   */
  #notify<K extends keyof BootTestEvents>(event: K, ...args: BootTestEvents[K]): void {
    for (const listener of this.rawListeners(event) as ((...a: BootTestEvents[K]) => unknown)[]) {
      try {
        const result = listener.apply(this, args);
        if (result && typeof (result as PromiseLike<unknown>).then === 'function') {
          (result as PromiseLike<unknown>).then(undefined, (error: unknown) =>
            this.#listenerFailed(event, error),
          );
        }
      } catch (error) {
        this.#listenerFailed(event, error);
      }
    }
  }

  #listenerFailed(event: string, error: unknown): void {
    this.#listenerError ??= { event, error };
  }

  #enter(next: Phase, tryIndex = 0): void {
    if (!TRANSITIONS[this.#phase].includes(next)) {
      throw new Error(`boot test: illegal transition ${this.#phase} -> ${next}`);
    }
    this.#phase = next;
    this.#notify('phase', next, tryIndex);
  }

  async run(): Promise<BootTestReport> {
    let report: BootTestReport;
    try {
      report = await this.#run();
    } finally {
      // Whatever happened (a listener, a driver error, a bug), no domain this test created is left running.
      for (const domain of [...this.#live.values()]) await this.#destroy(domain);
    }
    const failure = this.#listenerError;
    if (failure) {
      const why = failure.error instanceof Error ? failure.error.message : String(failure.error);
      throw new VmbootfailError(
        `a "${failure.event}" listener threw: ${why} (the test ran to its end and destroyed its domain)`,
        { code: 'ERR_CALLBACK', cause: failure.error },
      );
    }
    return report;
  }

  async #run(): Promise<BootTestReport> {
    const started = performance.now();
    const { spec, driver } = this;
    this.#notify('phase', 'pre-check', 0);
    // A failure the disks and the config prove is decided there, not after the kernel check.
    let early: TryReport | undefined;
    const decideEarly = (partial: PreflightResult) => {
      const certain = certainFailureOf(spec, partial);
      if (!certain) return;
      early = this.#announcePreflightTry(certain, performance.now() - started);
    };
    const pre = await preflight(spec, {
      inspectDisk: (p, o) => driver.inspectDisk(p, o),
      ...(this.options.checkKernel ? { checkKernel: this.options.checkKernel } : {}),
      ...(this.options.pvBootloaderOf ? { pvBootloaderOf: this.options.pvBootloaderOf } : {}),
      ...(this.options.bootDespitePreflight ? {} : { onDisksJudged: decideEarly }),
    });
    const base = {
      schemaVersion: 1 as const,
      vm: { name: spec.name, configPath: spec.configPath },
      preflight: pre,
      retries: this.#retries,
      timeLimitMs: this.#timeLimitMs,
    };

    if (early) return this.#decidedByPreflight(early, pre, base, started);
    const existing = await driver.findDomainByName(spec.name);
    if (existing !== undefined) {
      this.#enter('cleanup');
      this.#enter('done');
      return {
        ...base,
        verdict: 'REFUSED',
        reason: `a domain named ${spec.name} already exists (domid ${existing}); it was not touched`,
        tries: [],
        causes: pre.causes,
        consoleTail: '',
        totalMs: performance.now() - started,
      };
    }

    const blockFrontendMissing =
      pre.kernel?.problems.some((p) => p.code === 'BLOCK_FRONTEND_MISSING') ?? false;
    const damagedDevices = new Set(
      pre.disks
        .filter(
          (d) =>
            // Only what stops a mount; a filesystem that mounts with a warning boots.
            faultFindings(d.inspection?.findings ?? []).length > 0 && d.disk.device !== undefined,
        )
        .map((d) => d.disk.device as number),
    );
    const certainFailure = certainFailureOf(spec, pre);
    const neededDevices = new Set(
      spec.disks
        .filter((d) => pre.bootNeeds?.neededDisks.includes(d.vdev) && d.device !== undefined)
        .map((d) => d.device as number),
    );
    // pygrub (or pvgrub as kernel =) boots the initrd its grub entry names, from the image: unknown
    // entries count as having one.
    const grubBoots = (spec.bootloader !== undefined && spec.kernel === undefined) || !!pre.pvBootloader;
    const hasRamdisk =
      spec.ramdisk !== undefined ||
      (grubBoots && (pre.bootNeeds?.grubBoot ? pre.bootNeeds.grubBoot.initrd !== undefined : true));
    if (certainFailure && !this.options.bootDespitePreflight) {
      const report = this.#announcePreflightTry(certainFailure, performance.now() - started);
      return this.#decidedByPreflight(report, pre, base, started);
    }
    const context = { damagedDevices, blockFrontendMissing, certainFailure, neededDevices, hasRamdisk };
    const tries: TryState[] = [];
    let verdict: BootVerdict | undefined;
    let reason: string | undefined;
    for (let index = 0; verdict === undefined; index++) {
      if (index > 0) this.#enter('retry', index);
      this.#enter('create', index);
      const t = await this.#runTry(index, context);
      tries.push(t);
      // Destroyed by someone else: nothing of ours is left to destroy.
      if (t.report.outcome === 'vanished' && t.created) this.#live.delete(t.created.domid);
      this.#notify('try', t.report);
      this.#enter('verdict', index);
      const outcome = t.report.outcome;
      if (outcome === 'booted') verdict = index === 0 ? 'OK' : 'TRANSIENT';
      else if (outcome === 'vanished') {
        verdict = 'ABORTED';
        reason = 'the test VM was destroyed by someone else during the test';
      } else if (outcome === 'observer-lost') {
        verdict = 'ERROR';
        reason = t.report.reason;
      } else if (outcome === 'aborted') {
        verdict = 'ABORTED';
        reason = 'the test was cancelled';
      } else if (index >= this.#retries) verdict = 'PERMANENT';
      if (verdict === undefined && t.created) {
        // Between tries the test VM is always destroyed (paper Fig. 3).
        t.report.destroyed = await this.#destroy(t.created);
      }
    }

    this.#enter('analysis');
    const lastFailed =
      [...tries].reverse().find((t) => t.report.outcome !== 'booted') ?? tries[tries.length - 1];
    const causes = await this.#analyse(pre, lastFailed, verdict);

    this.#enter('cleanup');
    const last = tries[tries.length - 1];
    let keptDomain: CreatedDomain | undefined;
    if (last?.created && !last.report.destroyed && last.report.outcome !== 'vanished') {
      const failed = verdict !== 'OK' && verdict !== 'TRANSIENT';
      if (failed && this.options.keepOnFailure) {
        keptDomain = last.created;
        this.#live.delete(last.created.domid);
      } else last.report.destroyed = await this.#destroy(last.created);
    }
    this.#enter('done');
    return {
      ...base,
      verdict,
      ...(reason ? { reason } : {}),
      tries: tries.map((t) => t.report),
      causes,
      consoleTail: lastFailed?.consoleTail ?? '',
      ...(keptDomain ? { keptDomain } : {}),
      totalMs: performance.now() - started,
    };
  }

  /** The one try of a boot the preflight proved impossible, decided `at` ms after the test started: told now. */
  #announcePreflightTry(certain: CertainFailure, at: number): TryReport {
    const report: TryReport = {
      index: 0,
      outcome: 'failed',
      reason: `decided from the preflight: ${certain.reason}`,
      times: { verdictMs: at, firstEvidenceMs: at, evidenceToVerdictMs: 0 },
      evidence: certain.evidence.map((e) => ({ ...e, at })),
      destroyed: false,
    };
    this.#notify('try', report);
    this.#enter('verdict');
    return report;
  }

  /**
   * A boot the preflight proved impossible: creating the domain would only show what is already known,
   * and retries cannot change it (the paper's permanent failure), so no domain is touched. `report`,
   * the try the preflight decided, was already announced (event 'try', phase 'verdict').
   */
  async #decidedByPreflight(
    report: TryReport,
    pre: PreflightResult,
    base: Omit<BootTestReport, 'verdict' | 'tries' | 'causes' | 'consoleTail' | 'totalMs'>,
    started: number,
  ): Promise<BootTestReport> {
    this.#enter('analysis');
    // No domain, so nothing from xenstore or a console: the causes are the disks' and the preflight's.
    const causes = await this.#analyse(pre, undefined, 'PERMANENT');
    this.#enter('cleanup');
    this.#enter('done');
    return {
      ...base,
      verdict: 'PERMANENT',
      reason: DECIDED_WITHOUT_DOMAIN,
      tries: [report],
      causes,
      consoleTail: '',
      totalMs: performance.now() - started,
    };
  }

  async #runTry(
    index: number,
    {
      damagedDevices,
      blockFrontendMissing,
      certainFailure,
      neededDevices,
      hasRamdisk,
    }: {
      damagedDevices: Set<number>;
      blockFrontendMissing: boolean;
      certainFailure: CertainFailure | undefined;
      neededDevices: ReadonlySet<number>;
      hasRamdisk: boolean;
    },
  ): Promise<TryState> {
    const vcr = new VcrMonitor();
    const rootDisk = this.spec.rootDevice ? wholeDiskDevice(this.spec.rootDevice) : undefined;
    const consoleMonitor = new VmConsoleMonitor(this.options.consoleMatcher());
    const detector = new VmBootFailDetector(
      {
        expectsRootDisk: expectsRootDisk(this.spec),
        configuredDisks: this.spec.disks.length,
        damagedDevices,
        ...(rootDisk !== undefined ? { rootDisk } : {}),
        ...(neededDevices.size > 0 ? { neededDevices } : {}),
        hasRamdisk,
        blockFrontendMissing,
        ...(certainFailure ? { certainFailure } : {}),
        ...(this.options.quietReadsMs !== undefined ? { quietReadsMs: this.options.quietReadsMs } : {}),
      },
      vcr,
      consoleMonitor,
    );
    const creation = new VmCreationMonitor(this.spec.name);
    const observation = this.driver.startTry(this.spec.configPath, this.spec.name, index);
    const abort = this.options.signal;
    const onAbort = () => void observation.stop();
    abort?.addEventListener('abort', onAbort, { once: true });
    let decision:
      | BootDecision
      | { outcome: 'time-limit' | 'aborted'; at: number; evidence: Evidence[] }
      | undefined;
    let lastAt = 0;
    try {
      if (!abort?.aborted) {
        for await (const signal of observation.signals) {
          lastAt = signal.at;
          creation.apply(signal);
          if (creation.domid !== undefined && !this.#live.has(creation.domid))
            this.#live.set(creation.domid, { domid: creation.domid, name: this.spec.name });
          if (creation.created && this.#phase === 'create') this.#enter('watch-boot', index);
          decision = detector.observe(signal);
          this.#notify('progress', { tryIndex: index, elapsedMs: signal.at, timeLimitMs: this.#timeLimitMs });
          if (!decision && signal.at >= this.#timeLimitMs) {
            decision = { outcome: 'time-limit', at: signal.at, evidence: detector.evidence };
          }
          if (decision) break;
        }
      }
    } finally {
      abort?.removeEventListener('abort', onAbort);
      await observation.stop();
    }
    if (this.#phase === 'create') this.#enter('watch-boot', index);
    decision ??= abort?.aborted
      ? { outcome: 'aborted', at: lastAt, evidence: detector.evidence }
      : {
          outcome: 'observer-lost',
          at: lastAt,
          reason: 'the observation ended before a verdict',
          evidence: detector.evidence,
        };
    const th = creation.hardwareCreationMs;
    const firstEvidence = detector.firstEvidenceAt;
    const report: TryReport = {
      index,
      ...(creation.domid !== undefined ? { domid: creation.domid } : {}),
      outcome: decision.outcome === 'failed' ? 'failed' : decision.outcome,
      ...('reason' in decision ? { reason: decision.reason } : {}),
      times: {
        ...(th !== undefined ? { hardwareCreationMs: th } : {}),
        ...(firstEvidence !== undefined && decision.outcome !== 'booted'
          ? { firstEvidenceMs: firstEvidence }
          : {}),
        verdictMs: decision.at,
        ...(firstEvidence !== undefined && decision.outcome !== 'booted'
          ? { evidenceToVerdictMs: decision.at - firstEvidence }
          : {}),
        ...(th !== undefined ? { creationToVerdictMs: decision.at - th } : {}),
      },
      evidence: decision.outcome === 'booted' ? decision.evidence : [...detector.evidence],
      destroyed: false,
    };
    return {
      report,
      vcr: vcr.state,
      console: consoleMonitor.matches,
      ramdiskMayLoadDrivers: detector.ramdiskMayLoadDrivers,
      consoleTail: consoleMonitor.log(),
      ...(creation.domid !== undefined ? { created: { domid: creation.domid, name: this.spec.name } } : {}),
    };
  }

  async #analyse(
    pre: PreflightResult,
    failedTry: TryState | undefined,
    verdict: BootVerdict,
  ): Promise<Cause[]> {
    // Every disk again, after the boot: also those xenstore shows that the config does not name.
    // Without a boot (failedTry undefined) nothing touched them since the preflight read them.
    const grubKernel = pre.bootNeeds?.grubKernel
      ? versionFromKernelFileName(pre.bootNeeds.grubKernel)
      : undefined;
    const disks = failedTry
      ? await inspectVmDisks(
          this.spec.disks,
          (p, o) => this.driver.inspectDisk(p, { ...o, bootFiles: true }),
          guestKernelOf(this.spec) ?? grubKernel,
        )
      : pre.disks;
    const causes: Cause[] = [
      ...analyseVirtualDisks(disks),
      // What the guest's fstab and grub config need, judged again on the disks as they are now.
      ...guestBootNeeds(this.spec, disks).problems.map((p) => p.cause),
      // The disk findings are read again above; what the preflight concluded from the config too
      // (root= naming a partition the disk does not have, ...) stands.
      ...pre.causes.filter((c) => !c.evidence.every((e) => e.source === 'inspector')),
    ];
    if (failedTry && failedTry.report.outcome !== 'booted') {
      const rootWait = failedTry.console.find((m) => m.cue === 'root-wait');
      causes.push(
        ...analyseVirtualizedSystem(failedTry.vcr, this.spec, failedTry.report.times.verdictMs, {
          ...(rootWait ? { rootWait: { at: rootWait.at, line: rootWait.line } } : {}),
        }),
      );
      causes.push(
        ...analyseConsole(
          failedTry.console,
          failedTry.ramdiskMayLoadDrivers,
          this.spec.disks.map((d) => d.vdev),
        ),
      );
      const xl = failedTry.report.evidence.find((e) => e.source === 'xl' && e.detail === 'xl create failed');
      if (xl) causes.push(analyseXlFailure(xl.value ?? ''));
    }
    let merged = mergeCauses(causes);
    const failed = verdict === 'PERMANENT' || verdict === 'TRANSIENT';
    if (failed && !merged.some((c) => c.confidence >= 0.5)) {
      merged = [
        ...merged,
        unknownKernelProblem(failedTry?.consoleTail ?? '', failedTry?.report.reason ?? 'the boot failed'),
      ];
    }
    return merged;
  }

  async #destroy(domain: CreatedDomain): Promise<boolean> {
    // Tried once, whatever the outcome: the report says whether it was destroyed.
    this.#live.delete(domain.domid);
    try {
      await this.driver.destroy(domain);
      return true;
    } catch {
      return false;
    }
  }
}
