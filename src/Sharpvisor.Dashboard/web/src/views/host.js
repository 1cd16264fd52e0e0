// The host page: capacity, what the defined VMs hold against (capacity - reserved) x the overcommit ratios, and what
// the VMMs use now (GET /1.0/host), redrawn on every lifecycle event.
import { get } from "../api.js";
import { h, mount } from "../dom.js";
import { bytes, percent } from "../format.js";
import { onEvent } from "../events.js";

function meter(label, used, limit, show) {
  const p = percent(used, limit);
  return h("div", { class: "meter-row" },
    h("span", { class: "meter-label", id: `m-${label}` }, label),
    h("meter", { min: 0, max: limit || 1, value: used, high: (limit || 1) * 0.85, "aria-labelledby": `m-${label}` }),
    h("span", { class: "meter-text" }, `${show(used)} of ${show(limit)} allocated (${p}%)`));
}

export function showHost(main) {
  const body = h("div", {}, h("p", { class: "empty" }, "Loading the host..."));
  mount(main, h("h1", {}, "Host"), body);
  const load = async () => {
    try {
      const host = await get("/1.0/host");
      mount(body,
        h("section", { "aria-labelledby": "alloc" },
          h("h2", { id: "alloc" }, "Allocations"),
          meter("vCPUs", host.allocated.vcpus, host.limits.vcpus, (n) => `${n}`),
          meter("Memory", host.allocated.memory_bytes, host.limits.memory_bytes, bytes),
          meter("Disk", host.allocated.disk_bytes, host.limits.disk_bytes, bytes)),
        h("section", { "aria-labelledby": "cap" },
          h("h2", { id: "cap" }, "Capacity"),
          h("dl", { class: "facts" },
            h("dt", {}, "Host"), h("dd", {}, host.host_name),
            h("dt", {}, "Cores"), h("dd", {}, `${host.cores} (CPU ratio ${host.ratios.cpu}: up to ${host.limits.vcpus} vCPUs)`),
            h("dt", {}, "Memory"), h("dd", {}, `${bytes(host.memory_bytes)}, ${bytes(host.reserved_memory_bytes)} reserved (ratio ${host.ratios.memory}: up to ${bytes(host.limits.memory_bytes)})`),
            h("dt", {}, "Disk"), h("dd", {}, `${bytes(host.disk_bytes)} (ratio ${host.ratios.disk})`),
            h("dt", {}, "VMs"), h("dd", {}, `${host.instances} defined, ${host.running} with a VMM`),
            h("dt", {}, "VMMs resident"), h("dd", {}, bytes(host.vmm_resident_bytes)))));
    } catch (e) {
      mount(body, h("p", { class: "error", role: "alert" }, `The host could not be read: ${e.message}`));
    }
  };
  load();
  return onEvent((m) => { if (m.connected || m.event?.type === "lifecycle") load(); });
}
