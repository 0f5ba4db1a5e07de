import { JsonType, ReferenceKind, type Collection, type EntityMetadata, type EntityName, type MetadataStorage } from '@mikro-orm/core';
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

/** Each entity's readers: of every column (key ''), and of the sets of properties asked for (`only`). */
const readers = new WeakMap<EntityMetadata, Map<string, RowReader<unknown>>>();

/**
 * How many readers (and select lists) of subsets of its properties an entity keeps: the subsets
 * come from the operations clients send, so the caches are bounded (emptied when full).
 */
const SUBSETS_KEPT = 64;

const columnLists = new WeakMap<EntityMetadata, [property: string, column: string, convert: Convert][]>();

/** How each column of `meta` becomes its property, worked out once per entity; refuses a property type it does not know. */
function columnsOf(meta: EntityMetadata): [property: string, column: string, convert: Convert][] {
  const known = columnLists.get(meta);
  if (known) return known;
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
  columnLists.set(meta, columns);
  return columns;
}

/**
 * The reader of `entity`'s rows (column names as in its table), made once per entity and set of
 * properties: of `only` those (a view then has no other property), else of every column.
 */
export function rowReader<T extends object>(em: EntityManager, entity: EntityName<T>, only?: ReadonlySet<string>): RowReader<T> {
  const meta = em.getMetadata(entity) as EntityMetadata;
  let kept = readers.get(meta);
  if (!kept) readers.set(meta, (kept = new Map()));
  const reader = keep(kept, only ? subsetKey(only) : '', () => compileReader(columnsOf(meta).filter(([property]) => !only || only.has(property))));
  return reader as RowReader<T>;
}

/** `kept`'s value for `key`, made by `make` when missing; the map is emptied when it holds SUBSETS_KEPT. */
function keep<V>(kept: Map<string, V>, key: string, make: () => V): V {
  let value = kept.get(key);
  if (value === undefined) {
    if (kept.size >= SUBSETS_KEPT) kept.clear();
    value = make();
    kept.set(key, value);
  }
  return value;
}

const subsetKeys = new WeakMap<ReadonlySet<string>, string>();

/** A set of properties as a cache key (the same for the same properties in any order). */
function subsetKey(only: ReadonlySet<string>): string {
  let key = subsetKeys.get(only);
  if (key === undefined) subsetKeys.set(only, (key = ' ' + [...only].sort().join(' ')));
  return key;
}

/**
 * A reader as one object literal (`row => ({ id: row["id"], createdAt: date(row["created_at"]), ... })`)
 * made from the entity's metadata, not a loop over its columns: every view of an entity is made
 * in one allocation with one shape, and each column is a fixed property read. The loop (a keyed
 * store and load per column) was about a twentieth of a list's CPU. The names come from the ORM's
 * metadata, never from input, and are quoted as JSON strings.
 */
function compileReader(columns: readonly [property: string, column: string, convert: Convert][]): RowReader<unknown> {
  const converts = columns.map(([, , convert]) => convert);
  const fields = columns.map(([property, column, convert], i) => {
    const value = `row[${JSON.stringify(column)}]`;
    return `${JSON.stringify(property)}: ${convert === same ? value : `convert${i}(${value})`}`;
  });
  const make = new Function(...converts.map((_, i) => `convert${i}`), `return (row) => ({ ${fields.join(', ')} });`) as (...c: Convert[]) => RowReader<unknown>;
  return make(...converts);
}

/**
 * The columns `rowReader` reads of `entity`'s table, as a select list under `alias`
 * (`w.id, w.name, ...`), but the properties in `omit`, and of `only` those when given: a
 * statement that names them keeps its result's shape when a migration adds a column, as a prepared
 * statement must (`queryRows`' `prepared`), and reads no more than its reader takes.
 */
export function selectColumns<T extends object>(
  em: EntityManager,
  entity: EntityName<T>,
  alias: string,
  omit: ReadonlySet<string> = new Set(),
  only?: ReadonlySet<string>,
): string {
  const meta = em.getMetadata(entity) as EntityMetadata;
  let lists = selectLists.get(meta);
  if (!lists) selectLists.set(meta, (lists = new Map()));
  // Aliases and omitted properties are the store's own (a handful); the subsets come from operations.
  const key = `${alias}${omit.size === 0 ? '' : ` -${[...omit].join(' -')}`}${only ? subsetKey(only) : ''}`;
  return keep(lists, key, () =>
    columnsOf(meta)
      .filter(([property]) => !omit.has(property) && (!only || only.has(property)))
      .map(([, column]) => `${alias}.${column}`)
      .join(', '),
  );
}

/** `selectColumns`' select lists per entity, by alias and omitted properties. */
const selectLists = new WeakMap<EntityMetadata, Map<string, string>>();

/**
 * What a new row's view holds: every property of `T` but its collections, a to-one relation as the
 * row (or view, or entity) it refers to.
 */
export type NewRow<T> = { [K in keyof T as K extends symbol ? never : T[K] extends Collection<object> ? never : K]-?: T[K] };

/**
 * A new row as a plain view shaped as `T`, as a read's view is: not managed, never flushed; a
 * statement of the store's writes it (`rowColumns`). A create builds its rows this way: making
 * managed entities only to write and answer them (the entity factory, the identity map, relation
 * propagation) cost about a tenth of a burst of creates (ADR 0005, decision 28).
 */
export function newRow<T extends object>(values: NewRow<T>): T {
  return values as unknown as T;
}

/**
 * A writer as one object literal (`row => ({ "created_at": row["createdAt"] ?? null, "artifact_id":
 * row["artifact"] == null ? null : row["artifact"]["id"], ... })`), as `compileReader` makes a
 * reader: every row's columns in one allocation with one shape (a create writes six rows). The
 * names come from the ORM's metadata, never from input, and are quoted as JSON strings.
 */
function compileWriter(scalars: readonly [property: string, column: string][], references: readonly [property: string, column: string, key: string][]): RowColumns {
  const q = JSON.stringify;
  const fields = [
    ...scalars.map(([property, column]) => `${q(column)}: row[${q(property)}] ?? null`),
    ...references.map(([property, column, key]) => `${q(column)}: row[${q(property)}] == null ? null : row[${q(property)}][${q(key)}]`),
  ];
  return new Function(`return (row) => ({ ${fields.join(', ')} });`)() as RowColumns;
}

/** A row's columns, keyed by column name, from a view (or a managed entity) of one entity. */
export type RowColumns = (row: object) => Record<string, unknown>;

const writers = new WeakMap<EntityMetadata, RowColumns>();

/**
 * How a view (or an entity) of `entity` becomes its row's columns: each persisted scalar under its
 * column, each to-one relation as its target's key; made once per entity. A column added to an
 * entity travels without a second list to keep.
 */
export function rowColumns<T extends object>(metadata: MetadataStorage, entity: EntityName<T>): RowColumns {
  const meta = metadata.get(entity) as unknown as EntityMetadata;
  let writer = writers.get(meta);
  if (!writer) {
    const scalars: [property: string, column: string][] = [];
    const references: [property: string, column: string, key: string][] = [];
    for (const prop of meta.props) {
      const column = prop.fieldNames?.[0];
      if (prop.persist === false || !column) continue;
      if (prop.kind === ReferenceKind.SCALAR) scalars.push([prop.name, column]);
      else if (prop.kind === ReferenceKind.MANY_TO_ONE || (prop.kind === ReferenceKind.ONE_TO_ONE && prop.owner)) {
        const key = prop.targetMeta?.primaryKeys[0];
        if (!key || (prop.targetMeta?.primaryKeys.length ?? 0) > 1) throw new Error(`${meta.className}.${prop.name}: no single key to write`);
        references.push([prop.name, column, key]);
      }
    }
    writer = compileWriter(scalars, references);
    writers.set(meta, writer);
  }
  return writer;
}
