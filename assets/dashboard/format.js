// Formatting of times, durations and sizes for people.

/** "just now", "42 s ago", "5 min ago", "3 h ago", "2 d ago", or a date for older ones. */
export function relative(seconds, nowMs = Date.now()) {
  if (typeof seconds !== 'number') return '';
  const diff = Math.max(0, Math.round(nowMs / 1000 - seconds));
  if (diff < 5) return 'just now';
  if (diff < 60) return `${diff} s ago`;
  if (diff < 3600) return `${Math.floor(diff / 60)} min ago`;
  if (diff < 86400) return `${Math.floor(diff / 3600)} h ago`;
  if (diff < 7 * 86400) return `${Math.floor(diff / 86400)} d ago`;
  return new Date(seconds * 1000).toLocaleDateString();
}

/** The local date and time of Unix seconds. */
export function absolute(seconds) {
  return typeof seconds === 'number' ? new Date(seconds * 1000).toLocaleString() : '';
}

/** 0:07, 12:34, 1:02:03. */
export function duration(seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/** 812 B, 1.4 MB, 2.1 GB. */
export function bytes(n) {
  if (typeof n !== 'number') return '';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** The URL without its scheme, for display. */
export function shortUrl(url) {
  return String(url ?? '').replace(/^https?:\/\//, '');
}
