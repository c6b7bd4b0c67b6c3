// Helpers of the client's tests: waiting on a condition and pulling a stream, each with a deadline.

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Pulls from `iterator` until `done` says so (or times out), returning what it pulled. */
export async function pullUntil<T>(
  iterator: AsyncIterator<T>,
  into: T[],
  done: (items: T[]) => boolean,
  timeoutMs = 10_000,
): Promise<T[]> {
  const deadline = Date.now() + timeoutMs;
  while (!done(into)) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out after ${into.length} items`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const result = await Promise.race([
      iterator.next(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${into.length} items`)), left);
      }),
    ]).finally(() => clearTimeout(timer));
    if (result.done) throw new Error(`the stream ended after ${into.length} items`);
    into.push(result.value);
  }
  return into;
}
