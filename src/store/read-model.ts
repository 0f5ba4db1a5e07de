import { JsonType, ReferenceKind, type EntityMetadata, type EntityName } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { jsonColumn } from './sql.js';

/**
 * Reads rows of an entity's table into plain, read-only views shaped as the ORM's entities: every
 * scalar property under its property name (dates as `Date`, JSON parsed), and a to-one relation as
 * `{ id }`. A list answers from these (ADR 0061 decision 8): making managed entities (the entity factory,
 * the identity map, relation propagation) cost more than the rest of a list request together.
 * A view is not managed: it is never flushed, and a mutation reads its entity afresh.
 */
export type RowReader<T> = (row: Record<string, unknown>) => T;

type Convert = (value: unknown) => unknown;

const same: Convert = (value) => value;
const date: Convert = (value) => (value == null ? null : value instanceof Date ? value : new Date(value as string));
const json: Convert = (value) => (value == null ? null : jsonColumn(value));
const reference: Convert = (value) => (value == null ? null : { id: value });

const readers = new WeakMap<EntityMetadata, RowReader<unknown>>();

/** How each column of `meta` becomes its property; refuses a property type it does not know. */
function columnsOf(meta: EntityMetadata): [property: string, column: string, convert: Convert][] {
  const columns: [string, string, Convert][] = [];
  for (const prop of meta.props) {
    if (prop.persist === false) continue;
    if (prop.kind === ReferenceKind.MANY_TO_ONE || (prop.kind === ReferenceKind.ONE_TO_ONE && prop.owner)) {
      columns.push([prop.name, prop.fieldNames[0]!, reference]);
    } else if (prop.kind === ReferenceKind.SCALAR) {
      const convert = prop.customType instanceof JsonType ? json
        : prop.customType ? undefined
        : prop.runtimeType === 'Date' ? date
        : ['string', 'number', 'boolean'].includes(prop.runtimeType) ? same
        : undefined;
      if (!convert) throw new Error(`${meta.className}.${prop.name}: no plain reading for ${prop.customType?.constructor.name ?? prop.runtimeType}`);
      columns.push([prop.name, prop.fieldNames[0]!, convert]);
    }
  }
  return columns;
}

/** The reader of `entity`'s rows (column names as in its table), made once per entity. */
export function rowReader<T extends object>(em: EntityManager, entity: EntityName<T>): RowReader<T> {
  const meta = em.getMetadata(entity) as EntityMetadata;
  let reader = readers.get(meta);
  if (!reader) {
    const columns = columnsOf(meta);
    reader = (row) => {
      const view: Record<string, unknown> = {};
      for (const [property, column, convert] of columns) view[property] = convert(row[column]);
      return view;
    };
    readers.set(meta, reader);
  }
  return reader as RowReader<T>;
}
