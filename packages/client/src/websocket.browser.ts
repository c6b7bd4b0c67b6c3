/** In a browser: the global WebSocket, nothing from Node (see websocket.ts). */
export async function defaultWebSocket(): Promise<unknown> {
  const impl = (globalThis as { WebSocket?: unknown }).WebSocket;
  if (!impl) throw new Error('No global WebSocket here: pass `webSocketImpl` to createOpsGraphClient');
  return impl;
}
