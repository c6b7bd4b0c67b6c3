// The child-process side of a benchmark target: announce the address on stdout as one JSON line, then
// serve until the runner closes stdin (or the process gets SIGTERM/SIGINT), so a target never outlives
// the runner that started it.

/** What a target process announces once it is listening. */
export interface TargetInfo {
  /** The GraphQL endpoint. */
  readonly url: string;
  /** An API token, when the target has one (OpsGraph's demo token). */
  readonly token?: string;
  /** Tokens for many clients, when the target has them (a server limits sockets per caller). */
  readonly subscriberTokens?: readonly string[];
}

export function announceReady(info: TargetInfo, close: () => Promise<void>): void {
  let closing = false;
  const stop = () => {
    if (closing) return;
    closing = true;
    close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.stdin.on('end', stop);
  process.stdin.resume();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.stdout.write(`${JSON.stringify(info)}\n`);
}
