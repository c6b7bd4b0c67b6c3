/**
 * Runs `execute(prepare(item))` for each item in order, one statement at a time, preparing the next
 * item's statement (building its JSON, say) while the database runs the current one. A PostgreSQL
 * server works in its own process, so a bulk write's JavaScript and the server's work overlap instead
 * of taking turns; on the embedded database, which runs on this thread, it costs nothing. A failed
 * statement stops the run: its error is thrown, nothing after it is sent.
 */
export async function pipelined<T, P, R>(
  items: readonly T[],
  prepare: (item: T, index: number) => P,
  execute: (prepared: P, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = [];
  let next: P | undefined = items.length > 0 ? prepare(items[0]!, 0) : undefined;
  for (let i = 0; i < items.length; i++) {
    const running = execute(next as P, i);
    if (i + 1 < items.length) {
      // Handled here so a quick failure is not reported as unhandled while the next one is prepared;
      // it is still thrown by the await below.
      running.catch(() => {});
      // Let the statement reach the database before the preparation below holds this thread.
      await new Promise((resolve) => setImmediate(resolve));
      next = prepare(items[i + 1]!, i + 1);
    }
    results.push(await running);
  }
  return results;
}
