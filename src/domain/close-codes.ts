/**
 * WebSocket close codes this server sends, beside graphql-ws's own (4400 bad request, 4401
 * unauthorized, 4403 forbidden, 4408 connection_init timeout, 4409 duplicate id, 4429 too many
 * init requests, 4500 internal error). Documented in README.md ("Live subscriptions").
 */
export const CLOSE_CODES = {
  /** The bearer token in connectionParams is missing or does not verify. */
  unauthorized: 4401,
  /**
   * The connection's access ended while it was open: the bearer token it was opened with expired
   * (graphql-ws: each running operation first ends with the error TOKEN_EXPIRED), or, for a
   * WebSocket through a workload's invoke endpoint, the caller's role on the workload was removed
   * or the token expired. Reason `Token expired` or `Access revoked`. graphql-ws clients retry
   * this code (it is not one of their fatal ones) and call `connectionParams` again: a function
   * that returns a fresh token resumes without help.
   */
  forbidden: 4403,
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
