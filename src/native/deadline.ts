import { ErrorCode, VmbootfailError, invalidArgument } from '../errors.js';
import { MAX_TIMER_MS } from '../util/validate-options.js';

/**
 * Calls that share one native library thread (native/work_thread.h): the disk
 * libraries share the disk thread, libxenstat has its own. A XenStore
 * connection has its own thread too and passes its own lane.
 */
const THREAD_OF_LIB: Record<string, string> = {
  parted: 'disk',
  blkid: 'disk',
  ext2fs: 'disk',
  loop: 'disk',
  xenstat: 'xenstat',
};

/**
 * The calls bound for one library thread. Its native queue is FIFO, so a call
 * starts running when every call handed over before it has settled: that is
 * when its deadline starts, not when it was queued. Under 6000 concurrent
 * inspections a call used to spend its whole deadline waiting behind the
 * others and fail with a false ERR_DEADLINE. At most `window` calls are
 * handed to the thread at once (the rest wait here), enough to keep it busy.
 * A call whose deadline expires is dropped from the order (its thread may
 * still be stuck in C; the next call then gets its own full deadline).
 */
export class Lane {
  readonly #window: number;
  #active = 0;
  readonly #waiting: (() => void)[] = [];
  /** Handed to the thread and not settled, in hand-over order; the first is running. */
  readonly #order: { start(): void }[] = [];

  constructor(window = 8) {
    this.#window = window;
  }

  run<T>(call: () => Promise<T>, ms: number, deadlineError: () => Error): Promise<T> {
    return this.#slot().then(
      () =>
        new Promise<T>((resolve, reject) => {
          let timer: NodeJS.Timeout | undefined;
          let done = false;
          const entry = {
            start: () => {
              if (done || timer !== undefined) return;
              timer = setTimeout(() => {
                if (finish()) reject(deadlineError());
              }, ms);
            },
          };
          const finish = (): boolean => {
            if (done) return false;
            done = true;
            clearTimeout(timer);
            const at = this.#order.indexOf(entry);
            if (at >= 0) this.#order.splice(at, 1);
            this.#order[0]?.start();
            this.#release();
            return true;
          };
          this.#order.push(entry);
          let pending: Promise<T>;
          try {
            pending = call();
          } catch (error) {
            finish();
            reject(error);
            return;
          }
          if (this.#order[0] === entry) entry.start();
          pending.then(
            (value) => {
              if (finish()) resolve(value);
            },
            (error: unknown) => {
              if (finish()) reject(error);
            },
          );
        }),
    );
  }

  async #slot(): Promise<void> {
    if (this.#active < this.#window) {
      this.#active++;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#active--;
  }

  get queued(): number {
    return this.#waiting.length;
  }
}

const lanes = new Map<string, Lane>();

function laneFor(lib: string): Lane | undefined {
  const thread = THREAD_OF_LIB[lib];
  if (thread === undefined) return undefined;
  let lane = lanes.get(thread);
  if (!lane) {
    lane = new Lane();
    lanes.set(thread, lane);
  }
  return lane;
}

/**
 * Bounds a native call. The C call keeps running on its library thread (it
 * cannot be interrupted); its late result is dropped. The error keeps the
 * caller's stack, which an async native rejection would not have. Calls to
 * one library thread wait their turn in a Lane, and only the time on the
 * thread counts against `ms`.
 */
export async function withDeadline<T>(
  call: () => Promise<T>,
  ms: number,
  what: { lib: string; op: string; path?: string },
  lane: Lane | undefined = laneFor(what.lib),
): Promise<T> {
  // Never a Node warning, never a timer that fires at once: a bad value is the caller's error.
  if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 1 || ms > MAX_TIMER_MS)
    throw invalidArgument(
      `the deadline of ${what.op} must be a whole number of ms from 1 to ${MAX_TIMER_MS}`,
    );
  const callSite = new Error();
  const deadlineError = () =>
    new VmbootfailError(`${what.op} did not finish within ${ms} ms`, { code: ErrorCode.DEADLINE, ...what });
  const timed = async (): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(deadlineError()), ms);
    });
    try {
      return await Promise.race([call(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
  try {
    return await (lane ? lane.run(call, ms, deadlineError) : timed());
  } catch (error) {
    if (error instanceof Error && callSite.stack) {
      error.stack = `${error.stack?.split('\n')[0]}\n${callSite.stack.split('\n').slice(1).join('\n')}`;
    }
    throw error;
  }
}
