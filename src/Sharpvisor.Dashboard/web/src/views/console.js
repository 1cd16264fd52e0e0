// A VM's serial console in the page: xterm.js over the console websocket (raw bytes both ways). On attach the
// console log (GET .../console) is shown first, so the page starts with what the guest printed before; a dropped
// connection is retried with a growing delay and the screen is drawn again from the log, so nothing shows twice.
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import { socketUrl, ApiError } from "../api.js";
import { h, mount } from "../dom.js";

// The longest k for which the log ends with the first k bytes of what the websocket sent meanwhile.
function overlap(log, early) {
  for (let k = Math.min(log.length, early.length); k > 0; k--) {
    let same = true;
    for (let i = 0; i < k && same; i++) same = log[log.length - k + i] === early[i];
    if (same) return k;
  }
  return 0;
}

function concat(chunks) {
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) { all.set(c, at); at += c.length; }
  return all;
}

export function showConsole(main, name) {
  const path = `/1.0/instances/${encodeURIComponent(name)}/console`;
  const state = h("span", { id: "console-state", role: "status" }, "Connecting...");
  const retry = h("button", { type: "button", hidden: true }, "Reconnect now");
  const screen = h("div", { class: "console-screen", "aria-label": `Serial console of ${name}`, role: "group" });
  mount(main,
    h("h1", {}, `Console: ${name}`),
    h("p", { class: "console-bar" }, state, " ", retry, " ", h("a", { href: "#/vms" }, "Back to the VMs")),
    screen);

  const term = new Terminal({ convertEol: false, cursorBlink: true, fontSize: 14, scrollback: 5000, screenReaderMode: false });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(screen);
  fit.fit();
  const resize = new ResizeObserver(() => fit.fit());
  resize.observe(screen);

  const encoder = new TextEncoder();
  let socket = null, closedByPage = false, delay = 500, timer = null;
  // While the log is replayed, xterm answers the old queries in it (a cursor position request, ESC[6n) as if they were
  // live; those answers must not be typed into the guest.
  let replaying = false;
  term.onData((data) => { if (!replaying && socket?.readyState === WebSocket.OPEN) socket.send(encoder.encode(data)); });

  function connect() {
    clearTimeout(timer);
    retry.hidden = true;
    state.textContent = "Connecting...";
    const early = [];
    let logShown = false;
    const ws = new WebSocket(socketUrl(path));
    ws.binaryType = "arraybuffer";
    socket = ws;
    ws.onopen = async () => {
      try {
        const response = await fetch(path, { credentials: "same-origin" });
        if (!response.ok) throw new ApiError(response.status, `the console log: HTTP ${response.status}`);
        const log = new Uint8Array(await response.arrayBuffer());
        const pending = concat(early);
        term.reset();
        replaying = true;
        term.write(log);
        term.write(pending.subarray(overlap(log, pending)), () => { replaying = false; });
      } catch (e) {
        term.write(`\r\n[the console log could not be read: ${e.message}]\r\n`);
      }
      logShown = true;
      delay = 500;
      state.textContent = "Connected";
      term.focus();
    };
    ws.onmessage = (m) => {
      const bytes = new Uint8Array(m.data);
      if (logShown) term.write(bytes); else early.push(bytes);
    };
    ws.onclose = (e) => {
      if (socket !== ws) return;
      socket = null;
      if (closedByPage) return;
      const seconds = Math.round(delay / 100) / 10;
      state.textContent = `Disconnected${e.reason ? ` (${e.reason})` : ""}: reconnecting in ${seconds} s`;
      retry.hidden = false;
      timer = setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }
  retry.addEventListener("click", connect);
  connect();

  return () => {
    closedByPage = true;
    clearTimeout(timer);
    resize.disconnect();
    socket?.close();
    term.dispose();
  };
}
