import type { ActorRef } from '@opsgraph/core';
import type { OpsGraphBuilder } from '../builder.js';

const refs = new WeakMap<OpsGraphBuilder, ReturnType<typeof define>>();

const define = (builder: OpsGraphBuilder) =>
  builder.objectRef<ActorRef>('ActorRef').implement({
    description: 'Who made a change: a user, a token, the system or a plugin.',
    fields: (t) => ({ kind: t.exposeString('kind'), id: t.exposeString('id'), name: t.exposeString('name') }),
  });

/** The one `ActorRef` type of a schema, shared by activity and history. */
export function actorRefType(builder: OpsGraphBuilder) {
  let ref = refs.get(builder);
  if (!ref) {
    ref = define(builder);
    refs.set(builder, ref);
  }
  return ref;
}
