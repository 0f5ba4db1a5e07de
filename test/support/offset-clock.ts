/** The wall clock shifted by an offset that tests move forward (for TTLs and deadlines). */
export class OffsetClock {
  private offset = 0;
  readonly read = (): Date => new Date(Date.now() + this.offset);
  advance(ms: number): void {
    this.offset += ms;
  }
}
