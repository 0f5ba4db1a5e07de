/**
 * Global ids resolved without a promise. Pothos' relay plugin builds every `globalID` field (each
 * node's `id`) on an `async` resolver, so a list of 50 workloads with their artifacts and protons
 * made 150 promises, and the executor then completed every one of those objects through a promise
 * of its own. This replaces the field builder's `globalID` with one that answers at once when its
 * own resolver does, and keeps the plugin's encoding (its `encodeGlobalID` option, else base64 of
 * `Type:id`). It must run after the plugin is loaded and before any type is defined: the builder
 * module calls it.
 */
import { completeValue, RootFieldBuilder, type SchemaTypes } from '@pothos/core';
import { encodeGlobalID } from '@pothos/plugin-relay';

interface GlobalIdValue {
  type: unknown;
  id: unknown;
}

type Resolve = (parent: unknown, args: unknown, context: object, info: unknown) => unknown;

export function resolveGlobalIdsSynchronously(): void {
  const proto = RootFieldBuilder.prototype as unknown as {
    globalID(this: RootFieldBuilder<SchemaTypes, unknown>, options: { resolve: Resolve } & Record<string, unknown>): unknown;
  };
  proto.globalID = function globalID({ resolve, ...options }) {
    const builder = this.builder;
    const encode = (typename: string, id: string, context: object) =>
      builder.options.relay?.encodeGlobalID ? builder.options.relay.encodeGlobalID(typename, id, context as never) : encodeGlobalID(typename, id);
    // A resolver answers with its type's ref; its name is looked up once (the store resolves refs anew each time).
    const names = new Map<unknown, string>();
    const nameOf = (type: unknown) => {
      let name = names.get(type);
      if (name === undefined) names.set(type, (name = builder.configStore.getTypeConfig(type as string).name));
      return name;
    };
    return (this.field as (options: object) => unknown)({
      ...options,
      type: 'ID',
      resolve: (parent: unknown, args: unknown, context: object, info: unknown) =>
        completeValue(resolve(parent, args, context, info), (result) => {
          if (!result || typeof result !== 'object') return result;
          const { type, id } = result as GlobalIdValue;
          return encode(nameOf(type), String(id), context);
        }),
    });
  };
}
