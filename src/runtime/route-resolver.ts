/**
 * The routing decision behind the invoke endpoint: where a request for a workload goes right
 * now. It is part of the `ProtonRuntime` port (the simulated cluster answers with the loopback
 * address of a ready replica of the routed proton; the Kubernetes adapter answers with the
 * workload's Service address, see docs/adr/0051-invoke-routing.md). The endpoint
 * resolves once per request, so a switch of the route takes effect on the next request.
 */

/** Why a workload's traffic cannot be delivered now. */
export type UnroutableReason =
  /** The workload has no route (never started, or deleted). */
  | 'NoRoute'
  /** The route points nowhere (`routeWorkload(id, null)`). */
  | 'RoutedNowhere'
  /** The routed proton has no ready replica (stopped, starting, crashing). */
  | 'NoReadyReplica'
  /** This runtime cannot deliver traffic from this API server. */
  | 'Unsupported';

/** Where one request goes: a proton and the HTTP origin that reaches its primary container. */
export type RouteResolution =
  | {
      readonly kind: 'forward';
      readonly protonId: string;
      /** `http://host:port` of the primary container (or of a Service in front of it). */
      readonly target: URL;
      /** The replica (pod) chosen, when the runtime picks one itself. */
      readonly replica?: string;
    }
  | { readonly kind: 'unroutable'; readonly protonId: string | null; readonly reason: UnroutableReason };

/** Decides, per request, where a workload's traffic goes. */
export interface RouteResolver {
  /** The current destination of the workload's traffic; never throws for an unknown workload. */
  resolveRoute(workloadId: string): Promise<RouteResolution>;
}
