import { createContext, useContext, useEffect, useState, useSyncExternalStore } from 'react';
import type { Api } from './api';

export const ApiContext = createContext<Api | null>(null);

export function useApi(): Api {
  const api = useContext(ApiContext);
  if (!api) throw new Error('no API');
  return api;
}

/** The live connection's state; `epoch` goes up on every reconnect. */
export function useConnection(): ReturnType<Api['state']> {
  const api = useApi();
  return useSyncExternalStore(api.onState, api.state);
}

/** The location hash as a route: `#/workloads/ID` -> ['workloads', 'ID']. */
export function useRoute(): string[] {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
}

export function navigate(...parts: string[]): void {
  location.hash = `#/${parts.map(encodeURIComponent).join('/')}`;
}
