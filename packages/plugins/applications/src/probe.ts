import type { HealthCheck } from './model.js';

export interface ProbeOutcome {
  readonly ok: boolean;
  readonly statusCode: number | null;
  readonly durationMs: number;
  readonly error: string | null;
}

/**
 * One HTTP probe with Node's fetch: up when the status is the expected one within the timeout. Redirects
 * are not followed (a 301 is what the endpoint answered); the body is discarded unread.
 */
export async function probe(
  check: Pick<HealthCheck, 'url' | 'method' | 'expectedStatus' | 'timeoutMs'>,
): Promise<ProbeOutcome> {
  const started = performance.now();
  const took = () => Math.round(performance.now() - started);
  try {
    const response = await fetch(check.url, {
      method: check.method,
      redirect: 'manual',
      signal: AbortSignal.timeout(check.timeoutMs),
      headers: { 'user-agent': 'opsgraph-applications-probe/0.1' },
    });
    await response.body?.cancel();
    const ok = response.status === check.expectedStatus;
    return {
      ok,
      statusCode: response.status,
      durationMs: took(),
      error: ok ? null : `expected HTTP ${check.expectedStatus}, got ${response.status}`,
    };
  } catch (error) {
    const name = (error as { name?: string } | null)?.name;
    const cause = (error as { cause?: { code?: string; message?: string } } | null)?.cause;
    const message =
      name === 'TimeoutError'
        ? `no answer within ${check.timeoutMs} ms`
        : (cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error)));
    return { ok: false, statusCode: null, durationMs: took(), error: message };
  }
}
