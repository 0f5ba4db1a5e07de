import { isAbstractType, Kind, TypeInfo, visit, visitWithTypeInfo, type DocumentNode, type GraphQLResolveInfo, type OperationDefinitionNode } from 'graphql';

/**
 * What a field reads of the object it resolves on: its properties by name, or `Type.property` for
 * a property of another type's objects that the field reads through a request's loader (a proton's
 * replicas read their workload's `lifecycle`). Declared on the field (`reads('status')`), next to
 * the resolver that reads them; a field that declares nothing may read anything.
 */
export function reads(...properties: string[]): { extensions: { reads: readonly string[] } } {
  return { extensions: { reads: properties } };
}

/** The properties each object type's selected fields read, across an operation; null: a field that declares nothing. */
type OperationReads = Map<string, Set<string> | null>;

const perOperation = new WeakMap<OperationDefinitionNode, OperationReads>();
/** Answers per operation, by type and `always` (a few constant lists). */
const answered = new WeakMap<OperationDefinitionNode, Map<string, Map<readonly string[], ReadonlySet<string> | undefined>>>();

/**
 * The properties of `typeName`'s objects that the operation being executed reads, with `always`
 * (what the type's id, role check, `isTypeOf` and the reader's own keys read: a constant list,
 * cached by identity), or undefined when it may read any (a field selected on the type declares
 * no `reads`): what a list's statement reads of that type's rows, which prime the request's
 * loaders for every other field of the operation (ADR 0061 decision 23).
 *
 * Every field the operation selects on the type counts, anywhere in it (fragments too, spread or
 * not, and fields selected on an interface the type implements); `@skip`/`@include` are not
 * evaluated: a skipped field only costs its columns. `id` and `__typename` read only the id.
 * Worked out once per operation (documents are cached by the server) and type.
 */
export function propertiesRead(info: GraphQLResolveInfo, typeName: string, always: readonly string[]): ReadonlySet<string> | undefined {
  let byType = answered.get(info.operation);
  if (!byType) answered.set(info.operation, (byType = new Map()));
  let known = byType.get(typeName);
  if (!known) byType.set(typeName, (known = new Map()));
  if (known.has(always)) return known.get(always);
  const selected = operationReads(info).get(typeName);
  const result = selected === null ? undefined : new Set([...always, ...(selected ?? [])]);
  known.set(always, result);
  return result;
}

function operationReads(info: GraphQLResolveInfo): OperationReads {
  const cached = perOperation.get(info.operation);
  if (cached) return cached;
  const result: OperationReads = new Map();
  const add = (type: string, property: string) => {
    const set = result.get(type);
    if (set === null) return;
    if (set) set.add(property);
    else result.set(type, new Set([property]));
  };
  const typeInfo = new TypeInfo(info.schema);
  const document: DocumentNode = { kind: Kind.DOCUMENT, definitions: [info.operation, ...Object.values(info.fragments)] };
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field(node) {
        const name = node.name.value;
        const parent = typeInfo.getParentType();
        const field = typeInfo.getFieldDef();
        if (!parent || !field || name === 'id' || name === '__typename') return;
        const declared = field.extensions?.['reads'] as readonly string[] | undefined;
        const types = isAbstractType(parent) ? info.schema.getPossibleTypes(parent).map((t) => t.name) : [parent.name];
        for (const type of types) {
          if (!declared) {
            result.set(type, null);
            continue;
          }
          if (!result.has(type)) result.set(type, new Set());
          for (const entry of declared) {
            const dot = entry.indexOf('.');
            if (dot < 0) add(type, entry);
            else add(entry.slice(0, dot), entry.slice(dot + 1));
          }
        }
      },
    }),
  );
  perOperation.set(info.operation, result);
  return result;
}
