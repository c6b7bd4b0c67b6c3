/**
 * Applies the changes of a subscription once each, in order. The client sends the same `after` again
 * when it reconnects a lost socket, so the server replays from there: what was applied already
 * (seq at or below the last one) is skipped, and nothing in between is missed.
 */
export async function follow<TData, TChange extends { seq: number }>(
  subscription: AsyncIterable<TData>,
  pick: (data: TData) => TChange | null | undefined,
  apply: (change: TChange) => void,
): Promise<void> {
  let last = 0;
  for await (const data of subscription) {
    const change = pick(data);
    if (!change || change.seq <= last) continue;
    last = change.seq;
    apply(change);
  }
}
