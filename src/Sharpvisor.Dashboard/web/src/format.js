// How numbers read on the pages: binary sizes (as the API's "256M"), durations, statuses.
export function bytes(n) {
  if (n === null || n === undefined) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

export function duration(seconds) {
  if (seconds < 0) seconds = 0;
  const d = Math.floor(seconds / 86400), h = Math.floor(seconds / 3600) % 24, m = Math.floor(seconds / 60) % 60, s = Math.floor(seconds % 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s}s`;
  return `${s}s`;
}

export function uptime(instance, now = Date.now()) {
  if (!instance.started_at || !["running", "paused", "stopping", "migrating"].includes(instance.status)) return "-";
  return duration((now - Date.parse(instance.started_at)) / 1000);
}

export function status(name) {
  return name ? name[0].toUpperCase() + name.slice(1) : "-";
}

export function percent(used, limit) {
  return limit > 0 ? Math.round((used / limit) * 100) : 0;
}
