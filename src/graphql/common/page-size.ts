/** Page sizes outside 1..100 are refused, as a top-level error naming the argument. */
export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 20;
