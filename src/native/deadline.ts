import { ErrorCode, VmbootfailError } from '../errors.js';

/**
 * Bounds a native call. The C call keeps running on its library thread (it
 * cannot be interrupted); its late result is dropped. The error keeps the
 * caller's stack, which an async native rejection would not have.
 */
export async function withDeadline<T>(
  call: () => Promise<T>,
  ms: number,
  what: { lib: string; op: string; path?: string },
): Promise<T> {
  const callSite = new Error();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new VmbootfailError(`${what.op} did not finish within ${ms} ms`, {
        code: ErrorCode.DEADLINE,
        ...what,
      });
      reject(error);
    }, ms);
  });
  try {
    return await Promise.race([call(), timeout]);
  } catch (error) {
    if (error instanceof Error && callSite.stack) {
      error.stack = `${error.stack?.split('\n')[0]}\n${callSite.stack.split('\n').slice(1).join('\n')}`;
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
