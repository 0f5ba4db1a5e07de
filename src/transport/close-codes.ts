/**
 * WebSocket close codes this server sends, beside graphql-ws's own (4400 bad request, 4401
 * unauthorized, 4403 forbidden, 4408 connection_init timeout, 4409 duplicate id, 4429 too many
 * init requests, 4500 internal error). Documented in README.md ("Live subscriptions").
 */
export const CLOSE_CODES = {
  /** The bearer token in connectionParams is missing or does not verify. */
  unauthorized: 4401,
  /** connection_init did not arrive within SUBSCRIPTIONS_CONNECTION_INIT_TIMEOUT_MS (graphql-ws). */
  connectionInitTimeout: 4408,
  /**
   * The client does not read fast enough: more than SUBSCRIPTIONS_MAX_BUFFERED_BYTES wait to be
   * sent on its connection, or a subscription fell more than SUBSCRIPTIONS_MAX_PENDING_EVENTS
   * behind. Reconnect and resume with `after` (workloadEvents) or re-read (workloadsChanged).
   */
  slowConsumer: 4413,
  /** The server is shutting down; reconnect (to another replica). */
  goingAway: 1001,
} as const;
