import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import { loadConfig } from '../../src/config.js';
import { OBJECT_WEIGHTS } from '../../src/graphql/cost.js';
import { measureComplexity } from '../../src/graphql/limits.js';
import { buildSchema } from '../../src/graphql/schema.js';
import { median } from '../support.js';

/** What the complexity model says each document costs at the page it is asked for. */
export async function measureCosts(variants: readonly { query: string; first: number }[]): Promise<number[]> {
  const schema = buildSchema();
  return variants.map((v) => measureComplexity({ schema, document: parse(v.query), variableValues: { first: v.first } }));
}

/** The console's workload list at its largest page (100), the list a dashboard needs, against the default limit. */
export function consoleListCost(): { cost: number; limit: number } {
  const document = parse(readFileSync(new URL('../../console/src/operations.graphql', import.meta.url), 'utf8'));
  const cost = measureComplexity({ schema: buildSchema(), document, variableValues: { first: 100 }, operationName: 'ConsoleWorkloads' });
  return { cost, limit: loadConfig({}).graphql.limits.maxComplexity };
}

/** The API's CPU per request for each calibration variant (`CALIBRATION_VARIANTS`' names), in µs. */
export type Calibration = Record<'one row' | 'ids' | '+20 scalars' | '+10 scalars' | '+artifact' | '+protons' | '+replicas' | '+proton statistics', number>;

/** What the data gives each of the page's `rows` workloads: one artifact, `protons` current protons, `replicas` pods in all. */
export interface CalibrationData {
  rows: number;
  protons: number;
  replicas: number;
}

export interface FittedWeight {
  kind: keyof typeof OBJECT_WEIGHTS;
  /** Measured, in units, beyond the object's own scalar fields: the median over the rounds, and their range. */
  measured: number;
  range: [number, number];
  model: number;
  /**
   * The model charges no less than 0.8 times the median measured and no more than 1.5 times the
   * largest round, give or take `SLACK_UNITS` (a small object's rounds spread over a few units
   * either way: noise, not cost). Charging too little is what a limit cannot afford.
   */
  fits: boolean;
}

export interface Fit {
  unitUs: number;
  unitRangeUs: [number, number];
  /** What a request costs beyond its one row (parsing, validation, the HTTP exchange, the statement), in units. */
  requestUnits: number;
  weights: FittedWeight[];
  /** `Proton.statistics` on an empty window, in units per proton (its statement shared by the page). */
  statisticsPerProton: number;
  slackUnits: number;
}

/** How far from the measured weight a model's may be beyond the 0.8-1.5x band, in units: the spread of a small object's rounds. */
export const SLACK_UNITS = 2;

/**
 * The weights the measurements imply, by differences between variants that add one kind of field
 * at a time, worked out for each round (its variants ran one after another, so the machine's
 * drift mostly cancels) and then the median over the rounds: the unit is an added scalar field
 * (twenty per row); a row is what a page's extra row costs beyond its node and `id`; an artifact,
 * proton or replica is what one more such object costs beyond the scalar fields selected on it
 * (its field's own resolution included).
 */
export function fitWeights(rounds: Calibration[], data: CalibrationData): Fit {
  const perRound = rounds.map((cpuUs) => {
    const unit = (cpuUs['+20 scalars'] - cpuUs.ids) / (20 * data.rows);
    const per = (added: number, objects: number, fields: number) => added / objects / unit - fields;
    const row = per(cpuUs.ids - cpuUs['one row'], data.rows - 1, 2);
    return {
      unit,
      request: cpuUs['one row'] / unit - (row + 2),
      statistics: per(cpuUs['+proton statistics'] - cpuUs['+replicas'], data.protons, 2),
      weights: {
        row,
        artifact: per(cpuUs['+artifact'] - cpuUs['+10 scalars'], data.rows, 4),
        proton: per(cpuUs['+protons'] - cpuUs['+artifact'], data.protons, 3),
        replica: per(cpuUs['+replicas'] - cpuUs['+protons'], data.replicas, 4),
      },
    };
  });
  const kinds = Object.keys(perRound[0]!.weights) as (keyof (typeof perRound)[number]['weights'])[];
  const units = perRound.map((r) => r.unit);
  return {
    unitUs: median(units),
    unitRangeUs: [Math.min(...units), Math.max(...units)],
    requestUnits: median(perRound.map((r) => r.request)),
    statisticsPerProton: median(perRound.map((r) => r.statistics)),
    slackUnits: SLACK_UNITS,
    weights: kinds.map((kind) => {
      const values = perRound.map((r) => r.weights[kind]);
      const measured = median(values);
      const model = OBJECT_WEIGHTS[kind];
      return { kind, measured, range: [Math.min(...values), Math.max(...values)], model, fits: model >= 0.8 * measured - SLACK_UNITS && model <= 1.5 * Math.max(...values) + SLACK_UNITS };
    }),
  };
}
