// The create form: POST /1.0/instances with what was filled in (empty fields take the daemon's defaults: the default
// Debian guest, 1 vCPU, 256 MiB). A refusal is shown beside the field the API names ("memory", "disks[1]", ...).
import { request, runOperation } from "../api.js";
import { h, mount } from "../dom.js";

const fields = [
  { id: "name", label: "Name", required: true, help: "Letters, digits, '-', '_' and '.'." },
  { id: "vcpus", label: "vCPUs", type: "number", min: 1, help: "Or a topology below, not both." },
  { id: "topology", label: "Topology", placeholder: "sockets=1,cores=2,threads=1" },
  { id: "memory", label: "Memory", placeholder: "256M", help: "A size with a unit: 512M, 2G." },
  { id: "engine", label: "Engine", options: ["auto", "kvm", "emulator"] },
  { id: "kernel", label: "Kernel", help: "Empty: the default Debian guest. A path under the daemon's disk folders." },
  { id: "initrd", label: "Initrd" },
  { id: "cmdline", label: "Kernel command line" },
  { id: "disks", label: "Disks", multiline: true, placeholder: "/var/lib/sharpvisor/disks/web.qcow2,ro", help: "One a line: PATH[,ro][,format=raw|qcow2]." },
  { id: "nics", label: "Networks", multiline: true, placeholder: "tap=tap-web,mac=52:54:00:12:34:56", help: "One a line: tap=NAME[,mac=MAC]." },
  { id: "restart_policy", label: "Restart policy", options: ["no", "on-failure", "always"] },
];

function control(f) {
  const described = [f.help ? `${f.id}-help` : null, `${f.id}-error`].filter(Boolean).join(" ");
  const common = { id: f.id, name: f.id, "aria-describedby": described, required: f.required, placeholder: f.placeholder };
  const input = f.options ? h("select", common, f.options.map((o) => h("option", { value: o }, o)))
    : f.multiline ? h("textarea", { ...common, rows: 2 })
    : h("input", { ...common, type: f.type ?? "text", min: f.min, autocomplete: "off" });
  return h("div", { class: "field" },
    h("label", { for: f.id }, f.label),
    input,
    f.help ? h("p", { id: `${f.id}-help`, class: "help" }, f.help) : null,
    h("p", { id: `${f.id}-error`, class: "field-error", "aria-live": "polite" }));
}

function lines(text) {
  return text.split("\n").map((l) => l.trim()).filter((l) => l.length > 0);
}

function body(form) {
  const v = (id) => form.elements[id].value.trim();
  const b = { name: v("name") };
  if (v("vcpus")) b.vcpus = Number(v("vcpus"));
  for (const id of ["topology", "memory", "kernel", "initrd", "cmdline"]) if (v(id)) b[id] = v(id);
  if (v("engine") !== "auto") b.engine = v("engine");
  if (v("restart_policy") !== "no") b.restart_policy = v("restart_policy");
  const disks = lines(v("disks")).map((line) => {
    const [path, ...options] = line.split(",");
    const disk = { path };
    for (const o of options) {
      if (o === "ro") disk.readonly = true;
      else if (o.startsWith("format=")) disk.format = o.slice(7);
      else disk.format = o; // the API names the disk that is wrong
    }
    return disk;
  });
  if (disks.length) b.disks = disks;
  const nics = lines(v("nics")).map((line) => Object.fromEntries(line.split(",").map((p) => p.split("=", 2))));
  if (nics.length) b.nics = nics;
  if (form.elements.autostart.checked) b.autostart = true;
  return b;
}

export function showCreate(main, report) {
  const formError = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "create", novalidate: true, "aria-labelledby": "create-title" },
    h("h1", { id: "create-title" }, "Create a VM"),
    fields.map(control),
    h("div", { class: "field check" }, h("input", { id: "autostart", name: "autostart", type: "checkbox" }), h("label", { for: "autostart" }, "Start with the daemon")),
    h("div", { class: "field check" }, h("input", { id: "start", name: "start", type: "checkbox" }), h("label", { for: "start" }, "Start it now")),
    formError,
    h("button", { type: "submit" }, "Create"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    formError.textContent = "";
    for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    const b = body(form);
    try {
      await request("POST", "/1.0/instances", b);
    } catch (failure) {
      // "disks[1]" names the disks box; a refusal without a field (admission, a name taken) goes above the button.
      const id = failure.field?.replace(/\[\d+\]$/, "");
      const target = id && form.elements[id] && document.getElementById(`${id}-error`);
      if (target) {
        target.textContent = failure.message;
        form.elements[id].setAttribute("aria-invalid", "true");
        form.elements[id].focus();
      } else {
        formError.textContent = failure.message;
      }
      return;
    }
    report(`Created ${b.name}`);
    const start = form.elements.start.checked;
    location.hash = "#/vms";
    if (start) runOperation("PUT", `/1.0/instances/${encodeURIComponent(b.name)}/state`, { action: "start" }).catch((x) => report(`${b.name}: ${x.message}`, true));
  });
  mount(main, form);
  form.elements.name.focus();
}
