/** The console's connection to the API: HTTP for queries and mutations, one graphql-ws socket for live data. */
import { Client, fetchExchange, subscriptionExchange, type AnyVariables, type OperationResult, type TypedDocumentNode } from '@urql/core';
import { print } from 'graphql';
import { createClient as createWsClient, type Client as WsClient, type ExecutionResult } from 'graphql-ws';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting';

export interface Api {
  client: Client;
  ws: WsClient;
  token: string;
  /** The live connection's state, and a counter that goes up on every reconnect (pages refetch on it). */
  state(): { connection: ConnectionState; epoch: number };
  onState(listener: () => void): () => void;
  query<D, V extends AnyVariables>(doc: TypedDocumentNode<D, V>, variables: V): Promise<D>;
  mutate<D, V extends AnyVariables>(doc: TypedDocumentNode<D, V>, variables: V): Promise<D>;
  dispose(): void;
}

/** Thrown for a transport or top-level GraphQL error (typed refusals are data, not errors). */
export class ApiError extends Error {
  constructor(message: string, readonly code?: string) {
    super(message);
  }
}

function unwrap<D>(result: OperationResult<D>): D {
  if (result.error) {
    const first = result.error.graphQLErrors[0];
    const code = first?.extensions?.code;
    throw new ApiError(first?.message ?? result.error.message, typeof code === 'string' ? code : undefined);
  }
  if (!result.data) throw new ApiError('no data in the answer');
  return result.data;
}

export function createApi(token: string): Api {
  let snapshot: { connection: ConnectionState; epoch: number } = { connection: 'connecting', epoch: 0 };
  let everConnected = false;
  const listeners = new Set<() => void>();
  const set = (connection: ConnectionState, bump = false) => {
    snapshot = { connection, epoch: snapshot.epoch + (bump ? 1 : 0) };
    for (const l of listeners) l();
  };
  const ws = createWsClient({
    url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`,
    connectionParams: () => ({ authorization: `Bearer ${token}` }),
    lazy: false,
    keepAlive: 10_000,
    // The API may restart: keep trying, with capped backoff, for as long as the page is open.
    retryAttempts: Number.POSITIVE_INFINITY,
    shouldRetry: () => true,
    retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(3000, 250 * 2 ** retries) * (0.75 + Math.random() / 2))),
    on: {
      connected: () => {
        set('connected', everConnected);
        everConnected = true;
      },
      closed: () => set(everConnected ? 'reconnecting' : 'connecting'),
    },
  });
  const client = new Client({
    url: '/graphql',
    requestPolicy: 'network-only',
    preferGetMethod: false,
    fetchOptions: () => ({ headers: { authorization: `Bearer ${token}` } }),
    exchanges: [
      fetchExchange,
      subscriptionExchange({
        forwardSubscription: (request) => ({
          subscribe: (sink) => ({ unsubscribe: ws.subscribe({ ...request, query: request.query ?? '' }, sink as never) }),
        }),
      }),
    ],
  });
  return {
    client,
    ws,
    token,
    state: () => snapshot,
    onState(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    query: async (doc, variables) => unwrap(await client.query(doc, variables).toPromise()),
    mutate: async (doc, variables) => unwrap(await client.mutation(doc, variables).toPromise()),
    dispose: () => void ws.dispose(),
  };
}

/**
 * A subscription that resumes where it left off: on every reconnect it subscribes again with the
 * position it reached (`resumeVariables`), instead of replaying from the first position.
 */
export function resumableSubscription<D, V extends Record<string, unknown>>(
  api: Api,
  doc: TypedDocumentNode<D, V>,
  resumeVariables: () => V,
  onData: (data: D) => void,
  onError: (message: string) => void,
): () => void {
  const query = print(doc);
  let dispose: (() => void) | undefined;
  const start = () => {
    dispose?.();
    dispose = api.ws.subscribe<D>(
      { query, variables: resumeVariables() },
      {
        next: (result: ExecutionResult<D>) => {
          if (result.errors?.length) onError(result.errors.map((e) => e.message).join('; '));
          else if (result.data) onData(result.data);
        },
        error: (err) => onError(err instanceof Error ? err.message : 'the live stream broke off'),
        complete: () => undefined,
      },
    );
  };
  start();
  const offClosed = api.ws.on('closed', () => {
    // Dropped with the socket; the subscription is made anew, from where it was, once connected.
    dispose?.();
    dispose = undefined;
  });
  const offConnected = api.ws.on('connected', () => {
    if (!dispose) start();
  });
  return () => {
    offClosed();
    offConnected();
    dispose?.();
  };
}
