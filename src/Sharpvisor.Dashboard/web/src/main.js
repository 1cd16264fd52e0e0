// The dashboard's entry: signs in (or finds the session cookie already good), then shows the page the URL's hash
// names: #/vms, #/create, #/host, #/console/NAME. Live data arrives through the events websocket.
import "@xterm/xterm/css/xterm.css";
import "./app.css";
import { request, setCsrf, whenSignedOut } from "./api.js";
import { connectEvents, disconnectEvents, onEvent } from "./events.js";
import { showLogin } from "./views/login.js";
import { showVms } from "./views/vms.js";
import { showCreate } from "./views/create.js";
import { showHost } from "./views/host.js";
import { showConsole } from "./views/console.js";

const main = document.getElementById("main");
const nav = document.querySelector("nav");
const live = document.getElementById("live");
const logout = document.getElementById("logout");
let leave = null;
let signedIn = false;

function report(message, isError = false) {
  live.textContent = message;
  live.classList.toggle("error", isError);
}

function route() {
  if (!signedIn) return;
  leave?.();
  leave = null;
  const hash = location.hash || "#/vms";
  for (const link of nav.querySelectorAll("a")) link.toggleAttribute("aria-current", hash.startsWith(link.getAttribute("href")));
  if (hash.startsWith("#/console/")) leave = showConsole(main, decodeURIComponent(hash.slice("#/console/".length)));
  else if (hash === "#/create") leave = showCreate(main, report);
  else if (hash === "#/host") leave = showHost(main);
  else leave = showVms(main, report);
}

function enter() {
  signedIn = true;
  nav.hidden = false;
  logout.hidden = false;
  report("");
  connectEvents();
  route();
}

function signOut() {
  signedIn = false;
  leave?.();
  leave = null;
  disconnectEvents();
  nav.hidden = true;
  logout.hidden = true;
  showLogin(main, enter);
}

onEvent((m) => {
  if (m.connected === false) report("The daemon's events stream dropped: reconnecting...", true);
  else if (m.connected === true && live.textContent.startsWith("The daemon's events")) report("");
});
whenSignedOut(signOut);
window.addEventListener("hashchange", route);
logout.addEventListener("click", async () => {
  try { await request("POST", "/ui/logout"); } catch { /* signed out either way */ }
  signOut();
});

try {
  const session = await request("GET", "/ui/session");
  setCsrf(session.metadata.csrf_token);
  enter();
} catch (e) {
  if (e.status === 401) signOut();
  else main.replaceChildren(Object.assign(document.createElement("p"), { className: "error", role: "alert", textContent: `The daemon could not be reached: ${e.message}` }));
}
