/**
 * @module
 * The soak's chart, SVG written by hand (no charting dependency for one picture): panels stacked
 * over one time axis in minutes, each with its own y axis from 0, lines for its series, an
 * optional shaded band (the RSS criterion's ±10 %), and vertical marks across all panels (the
 * routes reloads). Plain SVG 1.1 that browsers and GitHub render as an image.
 */

export interface ChartSeries {
  readonly name: string;
  readonly color: string;
  /** [minutes, value] */
  readonly points: readonly (readonly [number, number])[];
}

export interface ChartPanel {
  readonly title: string;
  readonly unit: string;
  readonly series: readonly ChartSeries[];
  /** a shaded range of values, e.g. what the RSS may be at the end */
  readonly band?: { readonly from: number; readonly to: number; readonly label: string };
}

const WIDTH = 960;
const PANEL_HEIGHT = 240;
const MARGIN = { left: 70, right: 20, top: 40, bottom: 40 };
const GAP = 50;

const esc = (s: string) => s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");

/** 1, 2 or 5 times a power of ten, the smallest step that draws at most `ticks` grid lines up to `max`. */
function niceStep(max: number, ticks: number): number {
  const raw = max / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
}

const label = (n: number) => (Number.isInteger(n) ? String(n) : n.toPrecision(3).replace(/\.?0+$/, ""));

function panelSvg(panel: ChartPanel, top: number, xMax: number, marks: readonly number[]): string[] {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const values = panel.series.flatMap((s) => s.points.map((p) => p[1]));
  // 5 % headroom above the highest point, rounded up to a whole grid step
  const highest = Math.max(1e-9, ...values, panel.band?.to ?? 0) * 1.05;
  const yStep = niceStep(highest, 5);
  const yMax = yStep * Math.ceil(highest / yStep);
  const x = (m: number) => MARGIN.left + (m / xMax) * plotW;
  const y = (v: number) => top + PANEL_HEIGHT - (v / yMax) * PANEL_HEIGHT;
  const out = [`<text x="${MARGIN.left}" y="${top - 10}" font-weight="bold">${esc(panel.title)} (${esc(panel.unit)})</text>`];
  for (let v = 0; v <= yMax + yStep / 2; v += yStep) {
    out.push(`<line x1="${x(0)}" x2="${x(xMax)}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    out.push(`<text x="${MARGIN.left - 6}" y="${y(v) + 4}" text-anchor="end">${label(v)}</text>`);
  }
  if (panel.band) {
    const b = panel.band;
    out.push(`<rect x="${x(0)}" width="${plotW}" y="${y(b.to)}" height="${y(b.from) - y(b.to)}" fill="#2a9d8f" opacity="0.12"><title>${esc(b.label)}</title></rect>`);
  }
  for (const m of marks) out.push(`<line x1="${x(m)}" x2="${x(m)}" y1="${top}" y2="${top + PANEL_HEIGHT}" stroke="#999" stroke-dasharray="3,4"/>`);
  panel.series.forEach((s, i) => {
    const points = s.points.map(([m, v]) => `${x(m).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${points}"/>`);
    for (const [m, v] of s.points) out.push(`<circle cx="${x(m).toFixed(1)}" cy="${y(v).toFixed(1)}" r="2" fill="${s.color}"><title>${label(m)} min: ${label(v)} ${esc(panel.unit)}</title></circle>`);
    const lx = WIDTH - MARGIN.right - 150 * (panel.series.length - i);
    out.push(`<line x1="${lx}" x2="${lx + 20}" y1="${top - 14}" y2="${top - 14}" stroke="${s.color}" stroke-width="2"/><text x="${lx + 26}" y="${top - 10}">${esc(s.name)}</text>`);
  });
  out.push(`<rect x="${x(0)}" y="${top}" width="${plotW}" height="${PANEL_HEIGHT}" fill="none" stroke="#333"/>`);
  return out;
}

/** The whole chart: `panels` top to bottom over 0 … `minutes`, `marks` (minutes) as dashed lines across them. */
export function chartSvg(title: string, panels: readonly ChartPanel[], minutes: number, marks: readonly number[], caption: string): string {
  const height = MARGIN.top + panels.length * (PANEL_HEIGHT + GAP) + MARGIN.bottom;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  panels.forEach((p, i) => out.push(...panelSvg(p, MARGIN.top + 20 + i * (PANEL_HEIGHT + GAP), minutes, marks)));
  const axisY = MARGIN.top + 20 + panels.length * (PANEL_HEIGHT + GAP) - GAP;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const step = niceStep(minutes, 10);
  for (let m = 0; m <= minutes + 1e-9; m += step) {
    out.push(`<text x="${MARGIN.left + (m / minutes) * plotW}" y="${axisY + 16}" text-anchor="middle">${label(m)}</text>`);
  }
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${axisY + 32}" text-anchor="middle">minutes into the soak — ${esc(caption)}</text>`);
  out.push("</svg>");
  return out.join("\n") + "\n";
}
