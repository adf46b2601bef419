/**
 * The dashboard's only stylesheet, inlined in a <style> element and allowed by the
 * Content-Security-Policy through its SHA-256 hash (routes/dashboard.ts hashes this exact
 * string). No style="" attributes anywhere: the policy would block them. System fonts
 * only; a light and a dark palette whose text colours are tested to keep a contrast of
 * at least 4.5:1 (WCAG AA) against both backgrounds.
 */

export interface Palette {
	readonly bg: string;
	readonly card: string;
	readonly fg: string;
	readonly muted: string;
	readonly border: string;
	/** Bars, links and the current window. */
	readonly accent: string;
	/** Text on an accent background. */
	readonly onAccent: string;
	readonly track: string;
	readonly codeBg: string;
	/** The version bands of the adoption chart, newest first (at least 3:1 against the card). */
	readonly versions: readonly string[];
	/** Older versions together, and what is not published. */
	readonly older: string;
	readonly hidden: string;
}

export const LIGHT: Palette = {
	bg: "#f6f7f9",
	card: "#ffffff",
	fg: "#1b1f24",
	muted: "#545d68",
	border: "#d5dbe1",
	accent: "#0a5fc2",
	onAccent: "#ffffff",
	track: "#e6eaef",
	codeBg: "#eef1f4",
	versions: ["#0a5fc2", "#b4490c", "#1a7f37", "#8250df", "#c21a55", "#7a6400"],
	older: "#5a6570",
	hidden: "#8b95a0",
};

export const DARK: Palette = {
	bg: "#0e1116",
	card: "#161b22",
	fg: "#e6edf3",
	muted: "#a2acb8",
	border: "#30363d",
	accent: "#58a6ff",
	onAccent: "#0e1116",
	track: "#262d37",
	codeBg: "#222933",
	versions: ["#58a6ff", "#f0883e", "#3fb950", "#bc8cff", "#ff7b9c", "#d4b21a"],
	older: "#a2acb8",
	hidden: "#6e7781",
};

function variables(p: Palette): string {
	const versions = p.versions.map((c, i) => `;--v${i}:${c}`).join("");
	return `--bg:${p.bg};--card:${p.card};--fg:${p.fg};--muted:${p.muted};--border:${p.border};--accent:${p.accent};--on-accent:${p.onAccent};--track:${p.track};--code-bg:${p.codeBg}${versions};--v-older:${p.older};--v-hidden:${p.hidden}`;
}

/** One rule per version band (fill of the chart's polygons and the legend's swatches). */
function bandRules(p: Palette): string {
	return [...p.versions.map((_, i) => `v${i}`), "v-older", "v-hidden"].map((c) => `.band.${c},.swatch.${c}{fill:var(--${c});background:var(--${c})}`).join("\n");
}

export const DASHBOARD_CSS = `
:root{${variables(LIGHT)};color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{${variables(DARK)}}}
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue","Noto Sans","Liberation Sans",Arial,sans-serif}
a{color:var(--accent);text-underline-offset:.15em}
a:focus-visible{outline:3px solid var(--accent);outline-offset:2px;border-radius:4px}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:.86em;background:var(--code-bg);padding:.05em .3em;border-radius:4px;overflow-wrap:anywhere}
.wrap{max-width:70rem;margin:0 auto;padding:2rem 1rem 3rem}
header.top{display:flex;flex-wrap:wrap;align-items:flex-end;justify-content:space-between;gap:1rem 2rem;margin-bottom:1.75rem}
.eyebrow{margin:0 0 .25rem;color:var(--muted);font-size:.8rem;font-weight:600;letter-spacing:.08em;text-transform:uppercase}
h1{margin:0;font-size:clamp(1.6rem,4.5vw,2.25rem);line-height:1.15;letter-spacing:-.01em}
.lede{margin:.6rem 0 0;max-width:42rem;color:var(--muted)}
h2{margin:2.5rem 0 .25rem;font-size:1.3rem;line-height:1.25}
h3{margin:0 0 .2rem;font-size:1.02rem;line-height:1.3}
.windows{display:inline-flex;gap:.25rem;margin:0;padding:.25rem;list-style:none;background:var(--card);border:1px solid var(--border);border-radius:999px}
.windows a{display:block;padding:.3rem .95rem;border-radius:999px;text-decoration:none;font-weight:600;font-size:.92rem;white-space:nowrap}
.windows a[aria-current="page"]{background:var(--accent);color:var(--on-accent)}
.window{display:flex;flex-wrap:wrap;align-items:baseline;justify-content:space-between;gap:.25rem 1rem}
.window h2{margin-top:0}
.asof{margin:0;color:var(--muted);font-size:.9rem}
.totals{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,9.5rem),1fr));gap:1rem;margin:1rem 0 0}
.totals div{background:var(--card);border:1px solid var(--border);border-radius:12px;padding:.9rem 1.1rem}
.totals dt{color:var(--muted);font-size:.88rem;font-weight:600}
.totals dd{margin:.15rem 0 0;font-size:2rem;font-weight:700;line-height:1.1;font-variant-numeric:tabular-nums}
.totals dd.rule{font-size:1rem;font-weight:500;line-height:1.4;padding-top:.35rem}
.section-lede{margin:0 0 1rem;color:var(--muted)}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,20rem),1fr));gap:1rem}
.chart{background:var(--card);border:1px solid var(--border);border-radius:12px;padding:1rem 1.1rem .75rem;min-width:0;overflow-x:auto}
.desc{margin:0 0 .6rem;color:var(--muted);font-size:.88rem}
table{width:100%;border-collapse:collapse;font-size:.92rem}
th,td{padding:.32rem .4rem;text-align:left;vertical-align:middle}
thead th{color:var(--muted);font-size:.8rem;font-weight:600;border-bottom:1px solid var(--border)}
tbody th{font-weight:500;white-space:nowrap}
th:first-child,td:first-child{padding-left:0}
th:last-child,td:last-child{padding-right:0}
.bar-cell{width:100%;min-width:2.5rem}
.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
svg.bars{display:block}
.track{fill:var(--track)}
.bar{fill:var(--accent)}
tr.suppressed{color:var(--muted)}
tr.empty td{padding:.8rem 0;color:var(--muted)}
.notes{margin-top:.4rem;color:var(--muted);font-size:.82rem}
.notes p{margin:.15rem 0}
.notice{margin:1.25rem 0 0;padding:1rem 1.2rem;background:var(--card);border:1px solid var(--border);border-left:4px solid var(--accent);border-radius:8px}
.notice h2{margin:0 0 .3rem;font-size:1.1rem}
.notice p{margin:.2rem 0}
.prose{max-width:48rem}
.prose h3{margin-top:1.25rem}
.contract{margin:.5rem 0}
.contract dt{margin-top:.7rem;font-weight:600}
.contract dd{margin:.15rem 0 0}
.contract dd code{white-space:nowrap}
.small{font-size:.9rem;color:var(--muted)}
footer{margin-top:3rem;padding-top:1rem;border-top:1px solid var(--border);color:var(--muted);font-size:.88rem}
.sr-only{position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0,0,0,0);white-space:nowrap;border:0}
.grid.trends{grid-template-columns:repeat(auto-fit,minmax(min(100%,26rem),1fr))}
svg.trend{display:block;width:100%;height:auto;margin:.2rem 0 .3rem;overflow:visible}
svg.trend .axis{fill:var(--muted);font-size:11px;font-variant-numeric:tabular-nums}
svg.trend .grid{stroke:var(--border);stroke-width:1}
svg.trend .line{fill:none;stroke:var(--accent);stroke-width:2;stroke-linejoin:round;stroke-linecap:round}
svg.trend .area{fill:var(--accent);fill-opacity:.14;stroke:none}
svg.trend .point{fill:var(--accent);stroke:var(--card);stroke-width:1}
svg.trend .band{stroke:var(--card);stroke-width:.5}
${bandRules(LIGHT)}
.legend{display:flex;flex-wrap:wrap;gap:.2rem .9rem;margin:.1rem 0 .4rem;padding:0;list-style:none;font-size:.82rem;color:var(--muted)}
.legend li{display:inline-flex;align-items:center;gap:.35rem;overflow-wrap:anywhere}
.swatch{display:inline-block;flex:none;width:.8rem;height:.8rem;border-radius:2px}
details.numbers{margin-top:.3rem;font-size:.88rem}
details.numbers summary{cursor:pointer;color:var(--accent);font-weight:600}
.table-wrap{max-height:22rem;overflow:auto;margin-top:.4rem}
.table-wrap table{width:auto;min-width:100%}
.table-wrap th,.table-wrap td{white-space:nowrap}
@media (max-width:30rem){.wrap{padding-top:1.25rem}.totals dd{font-size:1.6rem}.chart{padding:.85rem .85rem .6rem}}
`.trim();
