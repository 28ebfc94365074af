/** A push/pull queue: producers push signals, the engine pulls them with for-await. */
import type { Signal } from './signals.js';

export class SignalQueue implements AsyncIterable<Signal> {
  #items: Signal[] = [];
  #waiting: ((r: IteratorResult<Signal>) => void) | undefined;
  #ended = false;

  push(signal: Signal): void {
    if (this.#ended) return;
    const waiter = this.#waiting;
    if (waiter) {
      this.#waiting = undefined;
      waiter({ value: signal, done: false });
    } else {
      this.#items.push(signal);
    }
  }

  end(): void {
    this.#ended = true;
    const waiter = this.#waiting;
    this.#waiting = undefined;
    waiter?.({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<Signal> {
    return {
      next: () => {
        const item = this.#items.shift();
        if (item) return Promise.resolve({ value: item, done: false });
        if (this.#ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          this.#waiting = resolve;
        });
      },
      return: () => {
        this.end();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
