// The daemon's events websocket (/1.0/events): every lifecycle and operation event, as it happens. The pages redraw
// from these, never by polling. A dropped connection is retried with a growing delay, and the listeners are told
// (connected: false), so a page can say the daemon is unreachable and reload its data once the stream is back.
import { socketUrl } from "./api.js";

const listeners = new Set();
let socket = null;
let retryMs = 500;
let wanted = false;

export function onEvent(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function tell(message) {
  for (const listener of listeners) listener(message);
}

export function connectEvents() {
  wanted = true;
  if (socket) return;
  socket = new WebSocket(socketUrl("/1.0/events"));
  socket.onopen = () => { retryMs = 500; tell({ connected: true }); };
  socket.onmessage = (message) => {
    try { tell({ event: JSON.parse(message.data) }); } catch { /* not JSON: the daemon sends only JSON text frames */ }
  };
  socket.onclose = () => {
    socket = null;
    tell({ connected: false });
    if (!wanted) return;
    setTimeout(connectEvents, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  };
}

export function disconnectEvents() {
  wanted = false;
  socket?.close();
}
