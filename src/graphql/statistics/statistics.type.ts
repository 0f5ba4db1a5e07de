import { GraphQLError } from 'graphql';
import type { StatisticsSummary } from '../../domain/request-statistics.js';
import { isUuid } from '../../domain/ids.js';
import {
  DEFAULT_SERIES_POINTS,
  MAX_SERIES_POINTS,
  readRequestStatisticsBatch,
  readStatisticsSeries,
  type RequestStatisticsReport,
  type StatisticsPoint,
} from '../../service/request-statistics.js';
import type { StatisticsQuery } from '../../service/request-statistics.js';
import DataLoader from 'dataloader';
import { builder } from '../builder.js';
import { operationCache, type GraphQLContext } from '../context.js';
import { SERIES_COMPLEXITY, STATISTICS_COMPLEXITY } from '../cost.js';
import { rawId } from '../common/errors.type.js';
import { operationSelectsWithin } from '../common/selection.js';
import { reads } from '../common/projection.js';
import { ProtonRef } from '../proton/proton.type.js';
import { WorkloadNode } from '../workload/workload.type.js';

const describeWindow =
  'Counts requests forwarded through the invoke endpoint since the workload was last promoted, in whole minutes: ' +
  '`from` rounds down and `to` up to the minute.';

/** The numbers a window's statistics and each per-minute point share. */
const RequestStatisticsSummaryRef = builder.interfaceRef<StatisticsSummary>('RequestStatisticsSummary').implement({
  description: 'Counts, latency percentiles and rates of a set of requests.',
  fields: (t) => ({
    requestCount: t.int({ description: 'Requests answered (forwarded, or failed at the proxy with 502/504).', resolve: (s) => s.requestCount }),
    clientErrorCount: t.int({ description: 'Answers with a 4xx status (499: the caller went away).', resolve: (s) => s.clientErrorCount }),
    serverErrorCount: t.int({ description: 'Answers with a 5xx status, and responses cut off mid-way.', resolve: (s) => s.serverErrorCount }),
    latencyP50Ms: t.float({ nullable: true, description: 'Median latency in ms (exact to within 25%); null without requests.', resolve: (s) => s.latencyP50Ms ?? null }),
    latencyP95Ms: t.float({ nullable: true, resolve: (s) => s.latencyP95Ms ?? null }),
    latencyP99Ms: t.float({ nullable: true, resolve: (s) => s.latencyP99Ms ?? null }),
    latencyMeanMs: t.float({ nullable: true, resolve: (s) => s.latencyMeanMs ?? null }),
    latencyMaxMs: t.float({ nullable: true, resolve: (s) => s.latencyMaxMs ?? null }),
    requestsPerMinute: t.float({ description: 'Requests divided by the length of the window in minutes.', resolve: (s) => s.requestsPerMinute }),
    peakConcurrentRequests: t.int({ description: 'The most requests in flight at once through one API replica.', resolve: (s) => s.peakConcurrentRequests }),
    lastRequestAt: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.lastRequestAt ?? null }),
  }),
});

const RequestStatisticsPointRef = builder.objectRef<StatisticsPoint>('RequestStatisticsPoint').implement({
  description: 'The requests of one minute.',
  interfaces: [RequestStatisticsSummaryRef],
  fields: (t) => ({
    start: t.field({ type: 'DateTime', resolve: (p) => p.start }),
  }),
});

const RequestStatisticsRef = builder.objectRef<RequestStatisticsReport>('RequestStatistics').implement({
  description: `Request statistics of a workload or proton. ${describeWindow}`,
  interfaces: [RequestStatisticsSummaryRef],
  fields: (t) => ({
    concurrentRequests: t.int({ description: 'Requests in flight now, over every API replica.', resolve: (s) => s.concurrentRequests }),
    windowStart: t.field({ type: 'DateTime', nullable: true, description: 'Start of the window the rate is over.', resolve: (s) => s.windowStart ?? null }),
    windowEnd: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.windowEnd ?? null }),
    resetAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When the statistics were last reset (the promotion); null if never.',
      resolve: (s) => s.resetAt,
    }),
    series: t.field({
      type: [RequestStatisticsPointRef],
      description:
        `One point per minute with requests, oldest first: the newest \`last\` such minutes of the window (default ${DEFAULT_SERIES_POINTS}, at most ${MAX_SERIES_POINTS}). ` +
        'For more, page back by moving `to` to the first point\'s `start`.',
      args: { last: t.arg.int({ required: false, description: `1 to ${MAX_SERIES_POINTS}; default ${DEFAULT_SERIES_POINTS}.` }) },
      // Each point costs its fields; the page it asks for is what it may return.
      complexity: (args) => ({ field: SERIES_COMPLEXITY.field, multiplier: Math.min(Math.max(Math.trunc(Number(args.last ?? DEFAULT_SERIES_POINTS)) || 1, 1), MAX_SERIES_POINTS) }),
      resolve: (s, args, ctx) => {
        const last = args.last ?? DEFAULT_SERIES_POINTS;
        if (last < 1 || last > MAX_SERIES_POINTS) {
          throw new GraphQLError(`"last" must be between 1 and ${MAX_SERIES_POINTS} (got ${last})`, { extensions: { code: 'VALIDATION', argument: 'last' } });
        }
        return last === DEFAULT_SERIES_POINTS ? s.series : readStatisticsSeries(ctx.em, s.query, last);
      },
    }),
  }),
});

/** A query's workload and window, without its proton. */
const windowKey = (q: StatisticsQuery) => `${q.workloadId}/${q.from?.toISOString() ?? ''}/${q.to?.toISOString() ?? ''}`;

/** A statistics query, and whether a whole workload's should also answer its current protons'. */
type LoadedQuery = StatisticsQuery & { withProtons?: boolean };

/**
 * Statistics of one request, batched: the protons of a page are read in one statement. When the
 * operation also selects protons' statistics, a whole workload's statistics come with each of its
 * current protons' over the same window, read in the same statement and kept for the request, and
 * a proton's asked for while that read is under way waits for it: a response that shows the
 * workload's and its protons' shows numbers of one moment (its protons are read after the
 * workload, so their statistics would otherwise be read by a later statement, after batches the
 * workload's did not count). Only then: each proton's part sums the window's buckets again (a
 * month of minutes costs about twice the workload's alone).
 */
const statisticsReads = operationCache((ctx: GraphQLContext) => {
  const loader: DataLoader<LoadedQuery, RequestStatisticsReport, string> = new DataLoader(
    async (queries: readonly LoadedQuery[]) => {
      const reports = await readRequestStatisticsBatch(ctx.em, queries);
      reports.forEach((report, i) => {
        for (const [protonId, part] of report.protons ?? []) loader.prime({ ...queries[i]!, protonId }, part);
      });
      return reports;
    },
    { cacheKeyFn: (q) => `${windowKey(q)}/${q.protonId ?? ''}` },
  );
  /** The reads of whole workloads, by workload and window: they answer their protons' too. */
  const wholes = new Map<string, Promise<unknown>>();
  return {
    load(q: LoadedQuery): Promise<RequestStatisticsReport> {
      if (q.protonId === undefined) {
        const read = loader.load(q);
        wholes.set(windowKey(q), read);
        return read;
      }
      const whole = wholes.get(windowKey(q));
      return whole ? whole.then(() => loader.load(q), () => loader.load(q)) : loader.load(q);
    },
  };
});

function checkWindow(from: Date | null | undefined, to: Date | null | undefined): void {
  if (from && to && from.getTime() >= to.getTime()) {
    throw new GraphQLError('"from" must be before "to"', { extensions: { code: 'VALIDATION', argument: 'from' } });
  }
}

builder.objectFields(WorkloadNode, (t) => ({
  statistics: t.field({
    type: RequestStatisticsRef,
    complexity: STATISTICS_COMPLEXITY,
    description: `Request statistics of the workload's protons, or of one (\`protonId\`). ${describeWindow}`,
    ...reads(),
    args: {
      from: t.arg({ type: 'DateTime', required: false }),
      to: t.arg({ type: 'DateTime', required: false }),
      protonId: t.arg.id({ required: false, description: 'Only this proton (a current or past proton of the workload).' }),
    },
    resolve: (w, args, ctx, info) => {
      checkWindow(args.from, args.to);
      const protonId = args.protonId == null ? undefined : rawId(args.protonId, 'Proton');
      if (protonId !== undefined && !isUuid(protonId)) {
        throw new GraphQLError('"protonId" must be a proton id', { extensions: { code: 'VALIDATION', argument: 'protonId' } });
      }
      return statisticsReads(ctx).load({
        workloadId: w.id,
        withProtons: operationSelectsWithin(info, 'protons', 'statistics'),
        ...(protonId !== undefined && { protonId }),
        ...(args.from && { from: args.from }),
        ...(args.to && { to: args.to }),
      });
    },
  }),
}));

builder.objectFields(ProtonRef, (t) => ({
  statistics: t.field({
    type: RequestStatisticsRef,
    complexity: STATISTICS_COMPLEXITY,
    description: `Request statistics of this proton. ${describeWindow}`,
    ...reads('workload'),
    args: {
      from: t.arg({ type: 'DateTime', required: false }),
      to: t.arg({ type: 'DateTime', required: false }),
    },
    resolve: (p, args, ctx) => {
      checkWindow(args.from, args.to);
      return statisticsReads(ctx).load({
        workloadId: p.workload.id,
        protonId: p.id,
        ...(args.from && { from: args.from }),
        ...(args.to && { to: args.to }),
      });
    },
  }),
}));
