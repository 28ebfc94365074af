/** VM Creation Monitor (paper module 3): notices that the test VM was created, and when. */
import type { Signal } from '../driver/signals.js';

export class VmCreationMonitor {
  domid: number | undefined;
  hardwareCreationMs: number | undefined;
  failure: string | undefined;

  constructor(readonly name: string) {}

  get created(): boolean {
    return this.domid !== undefined;
  }

  apply(signal: Signal): void {
    if (signal.source !== 'xl') return;
    if (signal.event === 'created') {
      this.domid = signal.domid;
      this.hardwareCreationMs = signal.at;
    } else {
      this.failure = signal.message;
    }
  }
}
