import type { Clock } from '../domain/clock.js';

export type { Clock } from '../domain/clock.js';

/** The wall clock. */
export const systemClock: Clock = () => new Date();
