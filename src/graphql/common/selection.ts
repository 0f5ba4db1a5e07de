import { Kind, type GraphQLResolveInfo, type SelectionSetNode } from 'graphql';

/**
 * Whether the field being resolved selects `name` directly on its result (through fragments too),
 * so that a resolver can read it in the same statement. `@skip`/`@include` are not evaluated: a
 * skipped field only costs the work of reading it.
 */
export function selectsField(info: GraphQLResolveInfo, name: string): boolean {
  return selects(info, (field) => field === name, false);
}

/**
 * Whether any field named in `names` is selected anywhere below the field being resolved, at any
 * depth (through fragments too), so that a resolver can leave out of its statement what nothing
 * below it reads. Like `selectsField`, `@skip`/`@include` are not evaluated.
 */
export function selectsAnyFieldBelow(info: GraphQLResolveInfo, names: ReadonlySet<string>): boolean {
  return selects(info, (field) => names.has(field), true);
}

function selects(info: GraphQLResolveInfo, matches: (field: string) => boolean, deep: boolean): boolean {
  const seen = new Set<string>();
  const within = (set: SelectionSetNode | undefined): boolean =>
    (set?.selections ?? []).some((selection) => {
      if (selection.kind === Kind.FIELD) return matches(selection.name.value) || (deep && within(selection.selectionSet));
      if (selection.kind === Kind.INLINE_FRAGMENT) return within(selection.selectionSet);
      const fragment = selection.name.value;
      if (seen.has(fragment)) return false;
      seen.add(fragment);
      return within(info.fragments[fragment]?.selectionSet);
    });
  return info.fieldNodes.some((node) => within(node.selectionSet));
}

const withinOperation = new WeakMap<object, Map<string, boolean>>();

/**
 * Whether the operation being executed selects a field named `child` directly on a field named
 * `parent`, anywhere in it (through fragments too): what a resolver can read ahead for a field
 * resolved later, after I/O. Worked out once per operation and pair. Like `selectsField`,
 * `@skip`/`@include` are not evaluated.
 */
export function operationSelectsWithin(info: GraphQLResolveInfo, parent: string, child: string): boolean {
  let known = withinOperation.get(info.operation);
  if (!known) withinOperation.set(info.operation, (known = new Map()));
  const key = `${parent}\u0000${child}`;
  const cached = known.get(key);
  if (cached !== undefined) return cached;
  const directly = (set: SelectionSetNode | undefined, seen: Set<string>): boolean =>
    (set?.selections ?? []).some((selection) => {
      if (selection.kind === Kind.FIELD) return selection.name.value === child;
      if (selection.kind === Kind.INLINE_FRAGMENT) return directly(selection.selectionSet, seen);
      if (seen.has(selection.name.value)) return false;
      seen.add(selection.name.value);
      return directly(info.fragments[selection.name.value]?.selectionSet, seen);
    });
  const seen = new Set<string>();
  const anywhere = (set: SelectionSetNode | undefined): boolean =>
    (set?.selections ?? []).some((selection) => {
      if (selection.kind === Kind.FIELD) return (selection.name.value === parent && directly(selection.selectionSet, new Set())) || anywhere(selection.selectionSet);
      if (selection.kind === Kind.INLINE_FRAGMENT) return anywhere(selection.selectionSet);
      if (seen.has(selection.name.value)) return false;
      seen.add(selection.name.value);
      return anywhere(info.fragments[selection.name.value]?.selectionSet);
    });
  const result = anywhere(info.operation.selectionSet);
  known.set(key, result);
  return result;
}

const anywhereInOperation = new WeakMap<object, Map<string, boolean>>();

/**
 * Whether the operation being executed selects a field named `name` anywhere in it (through
 * fragments too, on any type): what a resolver may leave out of a read whose objects other
 * fields of the operation share (a request's loaders). Worked out once per operation and name;
 * `@skip`/`@include` are not evaluated.
 */
export function operationSelectsAnywhere(info: GraphQLResolveInfo, name: string): boolean {
  let known = anywhereInOperation.get(info.operation);
  if (!known) anywhereInOperation.set(info.operation, (known = new Map()));
  const cached = known.get(name);
  if (cached !== undefined) return cached;
  const within = (set: SelectionSetNode | undefined): boolean =>
    (set?.selections ?? []).some((selection) =>
      selection.kind === Kind.FIELD ? selection.name.value === name || within(selection.selectionSet)
        : selection.kind === Kind.INLINE_FRAGMENT ? within(selection.selectionSet)
        // Every fragment of the document is looked at below, whether spread or not.
        : false);
  const result = within(info.operation.selectionSet) || Object.values(info.fragments).some((fragment) => within(fragment.selectionSet));
  known.set(name, result);
  return result;
}
