import { breakdownRows, reportCaveats, reportDescription, reportSections } from './report-format.js';
import type { ReplayReport } from './replay.js';

/** HTML-escapes text for the self-contained reports. */
export function esc(s: string | number): string {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Titled tables as HTML, numbers right-aligned (the replay and privileges reports share this). */
export function htmlTables(sections: { title: string; head: string[]; rows: (string | number)[][] }[]): string {
  return sections
    .map(
      (s) =>
        `<h2>${esc(s.title)}</h2><table><thead><tr>${s.head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>` +
        s.rows.map((row) => `<tr>${row.map((v) => `<td${typeof v === 'number' ? ' class="n"' : ''}>${esc(v)}</td>`).join('')}</tr>`).join('') +
        '</tbody></table>',
    )
    .join('\n');
}

/** Horizontal bars of allow→deny and deny→allow per tool, as inline SVG (no script, no external asset). */
function flipChart(r: ReplayReport): string {
  const rows = breakdownRows(r.by_tool, 25)
    .map(([tool, a2d, d2a]) => ({ tool, a2d, d2a }))
    .filter((x) => x.a2d + x.d2a > 0);
  if (rows.length === 0) return '<p>No flips by tool.</p>';
  const max = Math.max(...rows.map((x) => x.a2d + x.d2a));
  const labelW = 220;
  const barW = 460;
  const rowH = 26;
  const h = rows.length * rowH + 40;
  const parts = rows.map((x, i) => {
    const y = i * rowH + 10;
    const wa = (x.a2d / max) * barW;
    const wd = (x.d2a / max) * barW;
    return (
      `<text x="${labelW - 8}" y="${y + 15}" text-anchor="end">${esc(x.tool)}</text>` +
      `<rect x="${labelW}" y="${y}" width="${wa.toFixed(1)}" height="18" fill="#c0392b"><title>${esc(x.tool)}: ${x.a2d} allow→deny</title></rect>` +
      `<rect x="${(labelW + wa).toFixed(1)}" y="${y}" width="${wd.toFixed(1)}" height="18" fill="#27ae60"><title>${esc(x.tool)}: ${x.d2a} deny→allow</title></rect>` +
      `<text x="${(labelW + wa + wd + 6).toFixed(1)}" y="${y + 15}">${x.a2d + x.d2a}</text>`
    );
  });
  const legendY = rows.length * rowH + 28;
  return (
    `<svg role="img" aria-label="Flips by tool" width="${labelW + barW + 60}" height="${h}" font-family="sans-serif" font-size="13">` +
    parts.join('') +
    `<rect x="${labelW}" y="${legendY - 11}" width="12" height="12" fill="#c0392b"/><text x="${labelW + 16}" y="${legendY}">allow→deny</text>` +
    `<rect x="${labelW + 110}" y="${legendY - 11}" width="12" height="12" fill="#27ae60"/><text x="${labelW + 126}" y="${legendY}">deny→allow</text>` +
    '</svg>'
  );
}

/** A self-contained HTML page: the description, a chart of flips by tool, then every table. */
export function formatHtml(r: ReplayReport): string {
  const tables = htmlTables(reportSections(r));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>toolgate replay: ${esc(r.candidate.revision)} vs ${esc(r.baseline.revision)}</title>
<style>body{font-family:sans-serif;margin:2em;max-width:980px}table{border-collapse:collapse;margin-bottom:1em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}td.n{text-align:right}.caveat{background:#fff6dd;padding:6px 10px}</style>
</head><body>
<h1>toolgate replay</h1>
${reportDescription(r).map((l) => `<p>${esc(l)}</p>`).join('\n')}
<h2>Flips by tool</h2>
${flipChart(r)}
${reportCaveats(r).map((c) => `<p class="caveat">${esc(c)}</p>`).join('\n')}
${tables}
</body></html>
`;
}
