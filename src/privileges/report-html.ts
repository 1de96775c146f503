import type { PrivilegesReport } from './privileges-report.js';
import { esc, htmlTables } from '../replay/report-html.js';
import { privilegeCaveats, privilegeDescription, privilegeSections } from './report-format.js';


/** Held against needed per client, as inline SVG bars (no script, no external asset): grey held, green needed. */
function clientChart(r: PrivilegesReport): string {
  const rows = r.clients.slice(0, 40);
  if (rows.length === 0) return '<p>No clients with a client id in the period.</p>';
  const max = Math.max(1, ...rows.map((c) => c.held.scopes.length + c.held.roles.length));
  const labelW = 260;
  const barW = 420;
  const rowH = 26;
  const parts = rows.map((c, i) => {
    const y = i * rowH + 10;
    const held = c.held.scopes.length + c.held.roles.length;
    const needed = c.needed.scopes.length + c.needed.roles.length;
    const wh = (held / max) * barW;
    const wn = (needed / max) * barW;
    const note = c.status === 'insufficient_evidence' ? 'insufficient evidence' : `${held - needed} unused`;
    return (
      `<text x="${labelW - 8}" y="${y + 15}" text-anchor="end">${esc(c.id)}</text>` +
      `<rect x="${labelW}" y="${y}" width="${wh.toFixed(1)}" height="18" fill="#bbb"><title>${esc(c.id)}: ${held} held</title></rect>` +
      `<rect x="${labelW}" y="${y}" width="${wn.toFixed(1)}" height="18" fill="#27ae60"><title>${esc(c.id)}: ${needed} needed</title></rect>` +
      `<text x="${(labelW + wh + 6).toFixed(1)}" y="${y + 15}">${esc(note)}</text>`
    );
  });
  return `<svg role="img" aria-label="Held and needed per client" width="${labelW + barW + 160}" height="${rows.length * rowH + 20}" font-family="sans-serif" font-size="13">${parts.join('')}</svg>`;
}

/** A self-contained HTML page in the replay report's style: the description, a chart, the caveats, every table. */
export function formatPrivilegesHtml(r: PrivilegesReport): string {
  const tables = htmlTables(privilegeSections(r));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>toolgate privileges: ${esc(r.policy.revision)}</title>
<style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin-bottom:1em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}td.n{text-align:right}.caveat{background:#fff6dd;padding:6px 10px}</style>
</head><body>
<h1>toolgate privileges</h1>
${privilegeDescription(r).map((l) => `<p>${esc(l)}</p>`).join('\n')}
<h2>Held and needed per client</h2>
${clientChart(r)}
${privilegeCaveats(r).map((c) => `<p class="caveat">${esc(c)}</p>`).join('\n')}
${tables}
</body></html>
`;
}
