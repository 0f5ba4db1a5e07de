/** The current time; a parameter everywhere so that tests and the domain control it. */
export type Clock = () => Date;

/** The wall clock. */
export const systemClock: Clock = () => new Date();
