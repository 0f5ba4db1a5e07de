import type { Replacement } from '../../store/entities/index.js';
import { builder } from '../builder.js';
import { ArtifactNode } from '../artifact/artifact.type.js';
import { ReplacementStatusEnum } from '../common/enums.type.js';
import { reads } from '../common/projection.js';
import { replacementsOfWorkload, WorkloadNode } from './workload.type.js';

const ReplacementRef = builder.objectRef<Replacement>('Replacement').implement({
  description: 'One blue/green swap of a workload onto a new proton.',
  fields: (t) => ({
    id: t.exposeID('id'),
    status: t.field({ type: ReplacementStatusEnum, resolve: (r) => r.status }),
    statusReason: t.string({ nullable: true, resolve: (r) => r.statusReason ?? null }),
    statusMessage: t.string({ nullable: true, resolve: (r) => r.statusMessage ?? null }),
    fromArtifact: t.field({ type: ArtifactNode, resolve: (r) => r.fromArtifact.id }),
    toArtifact: t.field({ type: ArtifactNode, resolve: (r) => r.toArtifact.id }),
    warmupSeconds: t.exposeInt('warmupSeconds'),
    keepOldVersionSeconds: t.exposeInt('keepOldVersionSeconds'),
    createdAt: t.field({ type: 'DateTime', resolve: (r) => r.createdAt }),
    updatedAt: t.field({ type: 'DateTime', resolve: (r) => r.updatedAt }),
    finishedAt: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.finishedAt ?? null }),
  }),
});

const HistoryKindEnum = builder.enumType('WorkloadHistoryKind', { values: ['REPLACEMENT', 'PROMOTION'] as const });

interface HistoryEntry {
  kind: 'REPLACEMENT' | 'PROMOTION';
  at: Date;
  replacement: Replacement | null;
  artifactId: string;
}

const HistoryEntryRef = builder.objectRef<HistoryEntry>('WorkloadHistoryEntry').implement({
  description: 'A replacement or a promotion in the workload\'s past.',
  fields: (t) => ({
    kind: t.field({ type: HistoryKindEnum, resolve: (h) => h.kind }),
    at: t.field({ type: 'DateTime', resolve: (h) => h.at }),
    replacement: t.field({ type: ReplacementRef, nullable: true, resolve: (h) => h.replacement }),
    artifact: t.field({ type: ArtifactNode, description: 'The artifact replaced onto, or the one promoted.', resolve: (h) => h.artifactId }),
  }),
});

builder.objectFields(WorkloadNode, (t) => ({
  replacement: t.field({
    type: ReplacementRef,
    nullable: true,
    description: 'The replacement in progress, or the most recent one.',
    ...reads(),
    resolve: async (w, _args, ctx) => (await replacementsOfWorkload(ctx).load(w.id))[0] ?? null,
  }),
  history: t.field({
    type: [HistoryEntryRef],
    description: 'Past replacements and the promotion, newest first.',
    ...reads('promotedAt', 'artifact'),
    resolve: async (w, _args, ctx) => {
      const replacements = await replacementsOfWorkload(ctx).load(w.id);
      const entries: HistoryEntry[] = replacements.map((r) => ({
        kind: 'REPLACEMENT',
        at: r.createdAt,
        replacement: r,
        artifactId: r.toArtifact.id,
      }));
      if (w.promotedAt) {
        const promotedArtifact = replacements.find((r) => r.status === 'completed' && r.finishedAt && r.finishedAt <= w.promotedAt!)?.toArtifact.id;
        entries.push({ kind: 'PROMOTION', at: w.promotedAt, replacement: null, artifactId: promotedArtifact ?? w.artifact.id });
      }
      return entries.sort((a, b) => b.at.getTime() - a.at.getTime());
    },
  }),
  promotedAt: t.field({ type: 'DateTime', nullable: true, ...reads('promotedAt'), resolve: (w) => w.promotedAt ?? null }),
}));
