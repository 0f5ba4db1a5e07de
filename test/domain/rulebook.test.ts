import { readFileSync } from 'node:fs';
import { buildSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import {
  cloneDestination,
  deleteRefusal,
  isInUse,
  lockRefusal,
  MUTATIONS,
  requiredArtifactRole,
  RULEBOOK,
  type ArtifactReference,
} from '../../src/domain/rulebook.js';

const ref = (via: ArtifactReference['via'], terminated = false): ArtifactReference => ({
  workloadId: 'w',
  workloadName: 'w',
  via,
  ...(terminated && { terminated }),
});

describe('the rulebook', () => {
  it('has one row per mutation field of the printed schema, and no row without a field', () => {
    const schema = buildSchema(readFileSync(new URL('../../schema/schema.graphql', import.meta.url), 'utf8'));
    const fields = Object.keys(schema.getMutationType()!.getFields()).sort();
    expect([...MUTATIONS].sort()).toEqual(fields);
    for (const name of MUTATIONS) expect(RULEBOOK[name].mutation).toBe(name);
  });

  it('gives each mutation field the description of its row', () => {
    const schema = buildSchema(readFileSync(new URL('../../schema/schema.graphql', import.meta.url), 'utf8'));
    const fields = schema.getMutationType()!.getFields();
    for (const name of MUTATIONS) expect(fields[name]!.description, name).toBe(RULEBOOK[name].description);
  });

  it.each([
    // mutation, artifact status, already run by this workload, role needed
    ['createWorkload', 'draft', false, 'EDITOR'],
    ['createWorkload', 'locked', false, 'OBSERVER'],
    ['replaceWorkloadArtifact', 'draft', false, 'EDITOR'],
    ['replaceWorkloadArtifact', 'draft', true, null],
    ['replaceWorkloadArtifact', 'locked', false, 'OBSERVER'],
    ['promoteWorkload', 'draft', false, 'EDITOR'],
    ['updateArtifact', 'draft', false, 'EDITOR'],
    ['lockArtifact', 'draft', false, 'EDITOR'],
    ['cloneArtifact', 'draft', false, 'OBSERVER'],
    ['cloneArtifact', 'locked', false, 'OBSERVER'],
    ['deleteArtifact', 'draft', false, 'OWNER'],
    ['updateArtifactSharedRoles', 'locked', false, 'OWNER'],
  ] as const)('%s on a %s artifact (already run: %s) needs %s on it', (mutation, status, already, role) => {
    const [right] = RULEBOOK[mutation].artifacts;
    expect(requiredArtifactRole(right!, { status }, { alreadyRunByThisWorkload: already })).toBe(role);
  });

  it.each([
    ['OWNER', 'sourceRepository'],
    ['EDITOR', 'sourceRepository'],
    ['OBSERVER', 'newRepository'],
    [null, 'newRepository'],
  ] as const)('a clone by %s goes into the %s', (role, destination) => {
    expect(cloneDestination(role)).toBe(destination);
  });

  it.each([
    // references, may delete a draft, may lockArtifact it, may promote lock it
    [[], null, null, null],
    [[ref('workload')], 'ArtifactInUse', 'ArtifactInUse', null],
    [[ref('workload', true)], 'ArtifactInUse', null, null],
    [[ref('proton')], 'ArtifactInUse', 'ArtifactInUse', null],
    [[ref('replacement')], 'ArtifactInUse', 'ArtifactInUse', 'ArtifactInUse'],
  ] as const)('an artifact referenced by %j: delete %s, lockArtifact %s, promote %s', (refs, del, lock, promote) => {
    expect(deleteRefusal({ status: 'draft' }, refs)).toBe(del);
    expect(lockRefusal({ status: 'draft' }, refs, 'lockArtifact')).toBe(lock);
    expect(lockRefusal({ status: 'draft' }, refs, 'promoteWorkload')).toBe(promote);
  });

  it('never deletes a locked artifact, in use or not, and locking a locked one is no refusal', () => {
    expect(deleteRefusal({ status: 'locked' }, [])).toBe('ArtifactLocked');
    expect(lockRefusal({ status: 'locked' }, [ref('replacement')], 'lockArtifact')).toBeNull();
    expect(isInUse([])).toBe(false);
  });

  it('asks for a role on the workload for every operation addressed to one', () => {
    for (const name of MUTATIONS) {
      const row = RULEBOOK[name];
      expect(row.workloadRole !== null, name).toBe(row.subject === 'workload');
    }
  });
});
