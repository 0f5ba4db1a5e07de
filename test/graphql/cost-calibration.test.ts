import { describe, expect, it } from 'vitest';
import { fitWeights, type Calibration } from '../../bench/list-query/model.js';
import { OBJECT_WEIGHTS } from '../../src/graphql/cost.js';

/**
 * The CPU per request (µs) the calibration's variants would measure if the API cost exactly
 * `w` (in units of `unitUs`), on the bench's data: a page of `rows` workloads, each with one
 * artifact, one proton and two replicas.
 */
function synthetic(w: { unitUs: number; request: number; row: number; artifact: number; proton: number; replica: number; statistics: number }, rows = 100): Calibration {
  const u = w.unitUs;
  const ids = u * (w.request + rows * (w.row + 2));
  const tenScalars = ids + u * 10 * rows;
  const artifact = tenScalars + u * rows * (w.artifact + 4);
  const protons = artifact + u * rows * (w.proton + 3);
  const replicas = protons + u * 2 * rows * (w.replica + 4);
  return {
    'one row': u * (w.request + w.row + 2),
    ids,
    '+20 scalars': ids + u * 20 * rows,
    '+10 scalars': tenScalars,
    '+artifact': artifact,
    '+protons': protons,
    '+replicas': replicas,
    '+proton statistics': replicas + u * rows * (w.statistics + 2),
  };
}

const DATA = { rows: 100, protons: 100, replicas: 200 };

describe('the complexity model\'s calibration (bench/list-query)', () => {
  it('recovers the unit and each object\'s weight from the variants\' differences', () => {
    const truth = { unitUs: 2, request: 600, row: 27, artifact: 4, proton: 9, replica: 15, statistics: 8 };
    const fit = fitWeights([synthetic(truth)], DATA);
    expect(fit.unitUs).toBeCloseTo(2, 9);
    expect(fit.requestUnits).toBeCloseTo(600, 6);
    expect(fit.statisticsPerProton).toBeCloseTo(8, 6);
    expect(Object.fromEntries(fit.weights.map((w) => [w.kind, Number(w.measured.toFixed(6))]))).toEqual({ row: 27, artifact: 4, proton: 9, replica: 15 });
  });

  it('takes the median of the rounds, so one disturbed round does not move a weight', () => {
    const base = { unitUs: 2, request: 600, row: 30, artifact: 5, proton: 8, replica: 17, statistics: 8 };
    const disturbed = { ...base, unitUs: 2.6, replica: 40 };
    const fit = fitWeights([synthetic(base), synthetic(disturbed), synthetic(base)], DATA);
    expect(fit.unitUs).toBeCloseTo(2, 9);
    const replica = fit.weights.find((w) => w.kind === 'replica')!;
    expect(replica.measured).toBeCloseTo(17, 6);
    expect(replica.range[1]).toBeCloseTo(40, 6);
  });

  it('says a weight does not fit when the model charges too little, or far too much', () => {
    const asModel = { unitUs: 2, request: 600, statistics: 8, ...OBJECT_WEIGHTS };
    expect(fitWeights([synthetic(asModel)], DATA).weights.every((w) => w.fits)).toBe(true);
    // A replica measured at twice the model's weight: the model under-charges it.
    const underCharged = fitWeights([synthetic({ ...asModel, replica: OBJECT_WEIGHTS.replica * 2 })], DATA).weights;
    expect(underCharged.filter((w) => !w.fits).map((w) => w.kind)).toEqual(['replica']);
    // A row measured at a third of the model's: the model over-charges it beyond the band.
    const overCharged = fitWeights([synthetic({ ...asModel, row: OBJECT_WEIGHTS.row / 3 })], DATA).weights;
    expect(overCharged.filter((w) => !w.fits).map((w) => w.kind)).toEqual(['row']);
  });
});
