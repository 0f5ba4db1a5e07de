import { describe, expect, it } from 'vitest';
import { matchesWorkloadFilter, subscriberLag, type WorkloadListFacts, type WorkloadListFilter } from '../../src/domain/workload-filter.js';

const w: WorkloadListFacts = {
  status: 'running',
  importance: 'high',
  artifactStatus: 'draft',
  artifactId: 'a1',
  name: 'Payments API',
  description: 'serves 100% of checkouts',
  deleted: false,
};

describe('matchesWorkloadFilter', () => {
  const rows: [string, WorkloadListFilter, Partial<WorkloadListFacts>, boolean][] = [
    ['matches everything with an empty filter', {}, {}, true],
    ['matches a status in the list', { status: ['stopped', 'running'] }, {}, true],
    ['rejects a status not in the list', { status: ['stopped'] }, {}, false],
    ['treats an empty status list as no filter', { status: [] }, {}, true],
    ['rejects another importance', { importance: ['low'] }, {}, false],
    ['rejects another artifact status', { artifactStatus: 'locked' }, {}, false],
    ['rejects another artifact', { artifactId: 'a2' }, {}, false],
    ['finds the search term in the name, ignoring case', { search: 'payments' }, {}, true],
    ['finds the search term in the description, wildcards taken literally', { search: '100%' }, {}, true],
    ['rejects a term found nowhere', { search: 'billing' }, {}, false],
    ['never matches a deleted workload', {}, { deleted: true }, false],
  ];
  it.each(rows)('%s', (_name, filter, overrides, expected) => {
    expect(matchesWorkloadFilter({ ...w, ...overrides }, filter)).toBe(expected);
  });
});

describe('subscriberLag', () => {
  const rows: [string, number, number, number, number][] = [
    ['is zero when everything known was sent', 10, 10, 0, 0],
    ['counts events known beyond those sent', 10, 4, 0, 6],
    ['does not count the backlog asked for at subscription as lag', 10, 2, 10, 0],
    ['counts only what arrived after the backlog', 15, 3, 10, 5],
  ];
  it.each(rows)('%s', (_name, newest, delivered, backlogEnd, lag) => {
    expect(subscriberLag(newest, delivered, backlogEnd)).toBe(lag);
  });
});
