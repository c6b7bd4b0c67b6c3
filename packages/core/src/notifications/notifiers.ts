import { createHmac, timingSafeEqual } from 'node:crypto';
import { createTransport } from 'nodemailer';
import type { Notifier, OutgoingNotification } from './model.js';

export interface SmtpNotifierOptions {
  /** Default `email`. */
  readonly name?: string;
  readonly host: string;
  /** Default 587, or 465 with `secure`. */
  readonly port?: number;
  /** TLS from the start (port 465); otherwise STARTTLS is used when the server offers it. */
  readonly secure?: boolean;
  /** Refuse to send unless the connection is upgraded with STARTTLS. */
  readonly requireTLS?: boolean;
  readonly auth?: { readonly user: string; readonly pass: string };
  /** The sender, e.g. `"IT Operations" <itops@example.com>`. */
  readonly from: string;
  /** Connection, greeting and socket timeouts. Default 10,000 ms. */
  readonly timeoutMs?: number;
}

/**
 * Email over SMTP (nodemailer, pooled connections): one plain-text message per notification, to the
 * recipient's address from access, with an `X-OpsGraph-Notification` header carrying its id.
 */
export function smtpNotifier(options: SmtpNotifierOptions): Notifier {
  if (!options?.host) throw new TypeError('smtpNotifier needs a host');
  if (!options.from) throw new TypeError('smtpNotifier needs a from address');
  const timeout = options.timeoutMs ?? 10_000;
  const transport = createTransport({
    pool: true,
    host: options.host,
    port: options.port ?? (options.secure ? 465 : 587),
    secure: options.secure ?? false,
    requireTLS: options.requireTLS ?? false,
    ...(options.auth ? { auth: { user: options.auth.user, pass: options.auth.pass } } : {}),
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
  });
  return {
    name: options.name ?? 'email',
    async send(n: OutgoingNotification) {
      await transport.sendMail({
        from: options.from,
        to: { name: n.recipient.name, address: n.recipient.email },
        subject: n.subject,
        text: n.text,
        headers: { 'X-OpsGraph-Notification': n.id, 'X-OpsGraph-Incident': n.incident.number },
      });
    },
    close() {
      transport.close();
    },
  };
}

export interface WebhookNotifierOptions {
  /** Default `webhook`. */
  readonly name?: string;
  readonly url: string;
  /** Signs each request: `X-OpsGraph-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`. */
  readonly secret: string;
  /** Abandon a request after this long. Default 10,000 ms. */
  readonly timeoutMs?: number;
  /** Extra headers (e.g. a bearer token the receiver wants). */
  readonly headers?: Record<string, string>;
}

export const WEBHOOK_SIGNATURE_HEADER = 'x-opsgraph-signature';
export const WEBHOOK_TIMESTAMP_HEADER = 'x-opsgraph-timestamp';
export const WEBHOOK_DELIVERY_HEADER = 'x-opsgraph-delivery';

/** `sha256=<hex>` of `<timestamp>.<body>` under `secret`. */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * For receivers: whether `signature` (the `X-OpsGraph-Signature` header) signs `body` with `timestamp`
 * (the `X-OpsGraph-Timestamp` header, ms since the epoch) under `secret`, and the timestamp is within
 * `toleranceMs` (default 5 minutes) of `now`: a replayed old request is refused.
 */
export function verifyWebhookSignature(p: {
  readonly secret: string;
  readonly body: string;
  readonly timestamp: string | null | undefined;
  readonly signature: string | null | undefined;
  readonly toleranceMs?: number;
  readonly now?: Date;
}): boolean {
  if (!p.timestamp || !p.signature || !/^\d+$/.test(p.timestamp)) return false;
  const age = Math.abs((p.now ?? new Date()).getTime() - Number(p.timestamp));
  if (age > (p.toleranceMs ?? 300_000)) return false;
  const expected = Buffer.from(signWebhook(p.secret, p.timestamp, p.body));
  const given = Buffer.from(p.signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * A webhook: POSTs each notification as JSON, signed (HMAC-SHA256) with `secret`; a response other than
 * 2xx, a network error or the timeout counts as a failure (retried later). `X-OpsGraph-Delivery` carries
 * the notification's id, the same on every retry, so a receiver can drop duplicates.
 */
export function webhookNotifier(options: WebhookNotifierOptions): Notifier {
  let url: URL;
  try {
    url = new URL(options?.url);
  } catch {
    throw new TypeError(`webhookNotifier needs an http(s) url; got ${options?.url}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new TypeError(`webhookNotifier needs an http(s) url; got ${options.url}`);
  if (!options.secret) throw new TypeError('webhookNotifier needs a secret to sign with');
  const timeoutMs = options.timeoutMs ?? 10_000;
  return {
    name: options.name ?? 'webhook',
    async send(n: OutgoingNotification) {
      const body = JSON.stringify({
        id: n.id,
        kind: n.kind,
        attempt: n.attempt,
        recipient: n.recipient,
        incident: n.incident,
        services: n.services,
        subject: n.subject,
        text: n.text,
        message: n.message,
        createdAt: n.createdAt.toISOString(),
      });
      const timestamp = String(Date.now());
      let response: Response;
      try {
        response = await fetch(url, {
          method: 'POST',
          headers: {
            ...options.headers,
            'content-type': 'application/json',
            [WEBHOOK_SIGNATURE_HEADER]: signWebhook(options.secret, timestamp, body),
            [WEBHOOK_TIMESTAMP_HEADER]: timestamp,
            [WEBHOOK_DELIVERY_HEADER]: n.id,
          },
          body,
          signal: AbortSignal.timeout(timeoutMs),
          redirect: 'error',
        });
      } catch (error) {
        const e = error as Error;
        if (e.name === 'TimeoutError') throw new Error(`webhook timed out after ${timeoutMs} ms`);
        throw new Error(`webhook request failed: ${(e.cause as Error | undefined)?.message ?? e.message}`);
      }
      // Drain the body so the connection can be reused.
      await response.arrayBuffer().catch(() => undefined);
      if (!response.ok) throw new Error(`webhook answered ${response.status} ${response.statusText}`.trim());
    },
  };
}
