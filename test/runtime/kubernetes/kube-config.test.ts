/** The runtime's client reuses its connections to the API server instead of one per request. */
import type { Agent } from 'node:https';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { loadKubeConfig, reusingConnections } from '../../../src/runtime/kubernetes/kube-config.js';
import { describeOnKubernetes, testKubeconfigPath } from './cluster.js';

const CLUSTER = (server: string, user: string) => ({
  clusters: [{ name: 'c', server, skipTLSVerify: false, caData: Buffer.from('ca').toString('base64') }],
  users: [{ name: 'u', token: user }],
  contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
  currentContext: 'x',
});

describe('connection reuse', () => {
  it('hands every request of one cluster and credentials the same keep-alive agent, and new credentials a new one', async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions(CLUSTER('https://10.0.0.1:6443', 'token-a'));
    reusingConnections(kc);
    const first = (await kc.applyToFetchOptions({})).agent as Agent;
    const second = (await kc.applyToFetchOptions({})).agent as Agent;
    expect(first).toBe(second);
    expect(first.options.keepAlive).toBe(true);

    const other = new KubeConfig();
    other.loadFromOptions({ ...CLUSTER('https://10.0.0.1:6443', 'token-a'), clusters: [{ name: 'c', server: 'https://10.0.0.1:6443', caData: Buffer.from('another ca').toString('base64') }] });
    reusingConnections(other);
    const third = (await other.applyToFetchOptions({})).agent as Agent;
    expect(third).not.toBe(first);
  });
});

describeOnKubernetes('connection reuse against the API server', () => {
  it('makes ten calls over one TLS connection', async () => {
    const kc = loadKubeConfig({ kubeconfigPath: testKubeconfigPath() });
    const agent = (await kc.applyToFetchOptions({})).agent as unknown as { createConnection: (...args: unknown[]) => unknown };
    let connections = 0;
    const connect = agent.createConnection.bind(agent);
    agent.createConnection = (...args: unknown[]) => {
      connections++;
      return connect(...args);
    };
    const core = kc.makeApiClient(CoreV1Api);
    for (let i = 0; i < 10; i++) await core.listNamespace({ limit: 1 });
    expect(connections).toBe(1);
  });
});
