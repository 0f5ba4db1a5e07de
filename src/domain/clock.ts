/** The current time; a parameter everywhere so that tests and the domain control it. */
export type Clock = () => Date;
