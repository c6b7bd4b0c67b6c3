/**
 * The WebSocket class graphql-ws uses when none is given: the global one, else the `ws` package
 * (Node 20 has no global WebSocket). Browser bundlers get websocket.browser.ts instead (package.json's
 * `browser` field), so `ws` never enters a page's bundle.
 */
export async function defaultWebSocket(): Promise<unknown> {
  return (globalThis as { WebSocket?: unknown }).WebSocket ?? (await import('ws')).WebSocket;
}
