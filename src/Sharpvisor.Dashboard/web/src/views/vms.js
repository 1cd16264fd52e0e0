// The VM list: state, vCPUs, memory, engine, uptime and the actions each state allows. Rows change when the events
// stream says a VM changed (that VM is read again); uptimes tick locally.
import { get, request, runOperation } from "../api.js";
import { h, mount } from "../dom.js";
import { bytes, status, uptime } from "../format.js";
import { onEvent } from "../events.js";
import { ask } from "./dialog.js";

const withProcess = ["running", "paused", "stopping", "starting", "migrating"];

function actionsFor(vm) {
  const s = vm.status;
  const list = [];
  if (s === "stopped" || s === "crashed") list.push(["Start", { action: "start" }]);
  if (s === "running") list.push(["Pause", { action: "pause" }]);
  if (s === "paused") list.push(["Resume", { action: "resume" }]);
  if (s === "running" || s === "paused") list.push(["Stop", { action: "stop" }], ["Snapshot", "snapshot"]);
  if (withProcess.includes(s)) list.push(["Force stop", { action: "stop", force: true }]);
  if (!withProcess.includes(s)) list.push(["Delete", "delete"]);
  return list;
}

export function showVms(main, report) {
  const vms = new Map();
  const tbody = h("tbody");
  const table = h("table", { class: "vms" },
    h("caption", { class: "visually-hidden" }, "Virtual machines"),
    h("thead", {}, h("tr", {}, ["Name", "State", "vCPUs", "Memory", "Engine", "Uptime", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
    tbody);
  const empty = h("p", { class: "empty" }, "Loading the VMs...");
  mount(main, h("h1", {}, "Virtual machines"), empty, table);

  async function act(vm, what) {
    try {
      if (what === "delete") {
        if (!await ask({ title: `Delete ${vm.name}?`, message: "Its definition, console log and snapshots are removed. This cannot be undone.", confirm: { label: "Delete", danger: true } })) return;
        await request("DELETE", `/1.0/instances/${encodeURIComponent(vm.name)}`);
      } else if (what === "snapshot") {
        const name = await ask({ title: `Snapshot ${vm.name}`, confirm: { label: "Create snapshot" }, input: { label: "Snapshot name", value: `snap-${new Date().toISOString().slice(0, 19).replace(/[-:T]/g, "")}` } });
        if (!name) return;
        report(`Saving ${vm.name}/${name}...`);
        await runOperation("POST", `/1.0/instances/${encodeURIComponent(vm.name)}/snapshots`, { name });
        report(`Snapshot ${vm.name}/${name} saved`);
      } else {
        await runOperation("PUT", `/1.0/instances/${encodeURIComponent(vm.name)}/state`, what);
      }
    } catch (e) {
      report(`${vm.name}: ${e.message}`, true);
    }
  }

  function row(vm) {
    const console = withProcess.includes(vm.status) ? h("a", { href: `#/console/${encodeURIComponent(vm.name)}`, "aria-label": `Console of ${vm.name}` }, "Console") : null;
    return h("tr", { "data-vm": vm.name },
      h("th", { scope: "row" }, vm.name),
      h("td", { class: `state state-${vm.status}`, title: vm.status_reason || null },
        status(vm.status), vm.status === "crashed" && vm.status_reason ? h("span", { class: "reason" }, `: ${vm.status_reason}`) : null),
      h("td", {}, vm.vcpus),
      h("td", {}, bytes(vm.memory_bytes)),
      h("td", {}, vm.engine),
      h("td", { class: "uptime" }, uptime(vm)),
      h("td", { class: "actions" },
        actionsFor(vm).map(([label, what]) => h("button", { type: "button", class: label === "Delete" || label === "Force stop" ? "danger" : null, "aria-label": `${label} ${vm.name}`, onclick: () => act(vm, what) }, label)),
        console));
  }

  function draw() {
    const sorted = [...vms.values()].sort((a, b) => a.name.localeCompare(b.name));
    table.hidden = sorted.length === 0;
    empty.hidden = sorted.length !== 0;
    empty.replaceChildren("No VMs yet. ", h("a", { href: "#/create" }, "Create one"), ".");
    mount(tbody, sorted.map(row));
  }

  async function loadAll() {
    try {
      const list = await get("/1.0/instances");
      vms.clear();
      for (const vm of list) vms.set(vm.name, vm);
      draw();
    } catch (e) {
      table.hidden = true;
      empty.hidden = false;
      empty.textContent = `The VMs could not be read: ${e.message}`;
    }
  }

  async function loadOne(name) {
    try {
      vms.set(name, await get(`/1.0/instances/${encodeURIComponent(name)}`));
    } catch (e) {
      if (e.status !== 404) { report(`${name}: ${e.message}`, true); return; }
      vms.delete(name);
    }
    draw();
  }

  loadAll();
  const tick = setInterval(() => { for (const cell of tbody.querySelectorAll("tr")) cell.querySelector(".uptime").textContent = uptime(vms.get(cell.dataset.vm)); }, 1000);
  const off = onEvent((m) => {
    if (m.connected) loadAll();
    const e = m.event;
    if (!e) return;
    if (e.type === "lifecycle" && e.instance) loadOne(e.instance);
    if (e.type === "operation" && e.action === "failed") report(`${e.instance ?? "operation"}: ${e.message}`, true);
  });
  return () => { clearInterval(tick); off(); };
}
