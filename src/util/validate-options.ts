/**
 * Validation of what a library caller passes: a wrong type is a
 * VmbootfailError with code ERR_INVALID_ARGUMENT naming the option, never a
 * plain TypeError from deep inside, and never a Node warning (a timer of
 * 1e12 ms makes Node print TimeoutOverflowWarning and fire after 1 ms).
 */
import { invalidArgument } from '../errors.js';

/** setTimeout's largest delay (2^31 - 1 ms, about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string')
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  return typeof value;
}

/** An options argument: undefined means {}, anything but a plain object is refused. */
export function optionsObject(value: unknown, what: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw invalidArgument(`${what} must be an object, got ${describeValue(value)}`);
  return value as Record<string, unknown>;
}

/** A timeout in ms: a whole number from 1 to MAX_TIMER_MS, or undefined. */
export function timeoutMs(value: unknown, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_TIMER_MS)
    throw invalidArgument(
      `${what} must be a whole number of ms from 1 to ${MAX_TIMER_MS}, got ${describeValue(value)}`,
    );
  return value;
}

export function wholeNumber(
  value: unknown,
  what: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    throw invalidArgument(
      `${what} must be a whole number from ${min} to ${max}, got ${describeValue(value)}`,
    );
  return value;
}

export function abortSignal(value: unknown, what: string): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal))
    throw invalidArgument(`${what} must be an AbortSignal, got ${describeValue(value)}`);
  return value;
}

export function callback<T extends (...args: never[]) => unknown>(
  value: unknown,
  what: string,
): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function')
    throw invalidArgument(`${what} must be a function, got ${describeValue(value)}`);
  return value as T;
}

export function nonEmptyString(value: unknown, what: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.includes('\0'))
    throw invalidArgument(`${what} must be a non-empty string without NUL, got ${describeValue(value)}`);
  return value;
}

export function booleanOption(value: unknown, what: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean')
    throw invalidArgument(`${what} must be true or false, got ${describeValue(value)}`);
  return value;
}

/** new DiskInspector(options): the constructor's whole validation. */
export function diskInspectorOptions(options: unknown): { callTimeoutMs?: number } {
  const o = optionsObject(options, 'DiskInspector options');
  const callTimeoutMs = timeoutMs(o.callTimeoutMs, 'callTimeoutMs');
  return callTimeoutMs === undefined ? {} : { callTimeoutMs };
}
