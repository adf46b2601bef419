/**
 * The dashboard's pure parts: escaping, the renderer on hand-made Stats objects
 * (including hostile values no valid report can carry), the contract-generated
 * "what is collected", titles that must name contract keys, the palette's contrast.
 */
import { describe, expect, it } from "vitest";
import { CONTRACT, DURATION, EXCHANGES, PROVIDERS } from "../../src/contract";
import { TITLES, WINDOWS, renderDashboard, renderProblem } from "../../src/dashboard/page";
import { escapeHtml, formatShare, html } from "../../src/dashboard/html";
import { windowFrom } from "../../src/routes/dashboard";
import { DARK, DASHBOARD_CSS, LIGHT, type Palette } from "../../src/dashboard/style";
import { VERSION_BANDS } from "../../src/dashboard/trends";
import type { Stats } from "../../src/stats/window";
import { parsePage } from "../support/dashboard";

const NOW = Date.UTC(2026, 10, 25, 16, 30);

function emptyStats(days = 30): Stats {
	return {
		days,
		as_of: "2026-11-25T16:07:00Z",
		installations: 0,
		reports: 0,
		metrics: { [DURATION.name]: { bins: {} }, [EXCHANGES.name]: { bins: {} }, [PROVIDERS]: { tts: {}, stt: {} } },
		transport: {},
		environment: { "service.version": {}, "os.type": {}, "voicemode.install.method": {}, "voicemode.mcp.host": {}, "voicemode.exec.source": {} },
	};
}

const HOSTILE = `"><script>alert(1)</script><img src=x onerror=alert(2)>'&amp;`;

/** Stats whose every key is markup: what the page would get if D1 ever held such values. */
function hostileStats(): Stats {
	const base = emptyStats();
	return {
		...base,
		installations: 9,
		reports: 9,
		metrics: { [DURATION.name]: { bins: { "<1min": 3, [HOSTILE]: 4 } }, [EXCHANGES.name]: { bins: {} }, [PROVIDERS]: { tts: { [HOSTILE]: 5 }, stt: {} } },
		transport: { [HOSTILE]: 7 },
		environment: { ...base.environment, "service.version": { [HOSTILE]: 9 }, [HOSTILE]: { [HOSTILE]: 9 } },
	};
}

describe("escaping", () => {
	it("escapes the five HTML-significant characters", () => {
		expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe("&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;");
	});

	it("escapes every interpolated string or number in the html tag, arrays too, and passes Html through", () => {
		const inner = html`<b>${"<i>"}</b>`;
		expect(html`<p title="${'"'}">${["<", 1, inner, null, false, undefined]}</p>`.toString()).toBe('<p title="&quot;">&lt;1<b>&lt;i&gt;</b></p>');
	});

	it("renders hostile keys from storage as text only, with the numbers intact", async () => {
		const stats = hostileStats();
		const page = renderDashboard({ stats, minInstallations: 5, nowMs: NOW });
		expect(page).not.toContain("<script");
		expect(page).not.toContain("<img");
		expect(page).not.toContain(HOSTILE);
		expect(page).toContain(escapeHtml(HOSTILE));
		expect((await parsePage(page)).stats).toEqual(stats);
	});

	it("never echoes anything in the problem pages", () => {
		for (const kind of ["bad-window", "unavailable"] as const) expect(renderProblem(kind)).not.toMatch(/<script|\$\{/);
	});
});

describe("windowFrom", () => {
	it.each([
		[null, 30],
		["7", 7],
		["30", 30],
		["90", 90],
		["07", 7],
	])("accepts %s as %s", (value, days) => expect(windowFrom(value)).toBe(days));

	it.each(["", "1", "14", "31", "89", "91", "7.0", "1e1", "-7", " 7", "abc", "<script>", "007", "0x7"])("refuses %j", (value) => {
		expect(windowFrom(value)).toBeNull();
	});

	it("offers 7, the /v1/stats default and the contract's maximum age", () => {
		expect(WINDOWS).toEqual([7, 30, CONTRACT.period.maxAgeSeconds / 86_400]);
	});
});

describe("renderDashboard", () => {
	it("shows the empty state with the contract section and no charts when nothing was reported", async () => {
		const page = renderDashboard({ stats: emptyStats(7), minInstallations: 5, nowMs: NOW });
		expect(page).toContain("No reports in the last 7 days yet");
		expect(page).toContain('id="collected"');
		expect((await parsePage(page)).charts).toEqual([]);
	});

	it("gives every histogram one bar per contract bin, suppressed ones as —", async () => {
		const stats: Stats = { ...emptyStats(), installations: 6, reports: 6, metrics: { ...emptyStats().metrics, [DURATION.name]: { bins: { "1-5min": 12, ">60min": 3 } } } };
		const parsed = await parsePage(renderDashboard({ stats, minInstallations: 5, nowMs: NOW }));
		const duration = parsed.charts.find((c) => c.path[1] === DURATION.name);
		expect(duration?.bars).toEqual(DURATION.bins);
		expect(duration?.rows.map((r) => [r.key, r.count, ...r.cells])).toEqual(
			DURATION.bins.map((bin) => (bin === "1-5min" ? [bin, 12, "12", "80%"] : bin === ">60min" ? [bin, 3, "3", "20%"] : [bin, null, "—", "—"])),
		);
	});

	it("formats counts with separators and small shares as <1%", async () => {
		expect(formatShare(1, 1000)).toBe("<1%");
		expect(formatShare(0, 10)).toBe("0%");
		const stats: Stats = { ...emptyStats(), installations: 6, reports: 6, transport: { local: 12345, livekit: 5 } };
		const transport = (await parsePage(renderDashboard({ stats, minInstallations: 5, nowMs: NOW }))).charts.find((c) => c.path[0] === "transport");
		expect(transport?.rows.map((r) => r.cells)).toEqual([
			["12,345", "100%"],
			["5", "<1%"],
		]);
	});

	it("states the live threshold, with the right plural", () => {
		expect(renderDashboard({ stats: emptyStats(), minInstallations: 1, nowMs: NOW })).toContain("at least <strong>1 installation</strong> contributed");
		expect(renderDashboard({ stats: emptyStats(), minInstallations: 12, nowMs: NOW })).toContain("<code>STATS_MIN_INSTALLATIONS</code> = 12");
	});
});

describe("what is collected", () => {
	const page = renderDashboard({ stats: emptyStats(), minInstallations: 5, nowMs: NOW });
	const section = page.slice(page.indexOf('id="collected"'), page.indexOf('id="opt-out"'));

	it("names every metric, bin, attribute key and closed value of the contract", () => {
		for (const spec of CONTRACT.metrics.values()) {
			expect(section).toContain(`<code>${spec.name}</code>`);
			if (spec.instrument === "histogram") for (const bin of spec.bins) expect(section).toContain(`<code>${escapeHtml(bin)}</code>`);
		}
		for (const rule of [...CONTRACT.pointAttributes.values(), ...CONTRACT.resourceAttributes.values()]) {
			expect(section).toContain(`<code>${rule.key}</code>`);
			if (rule.values && rule.values.length > 1) for (const v of rule.values) expect(section).toContain(`<code>${v}</code>`);
		}
	});

	it("uses the contract's descriptions", async () => {
		const raw = (await import("../../../voicemode_otel/contract.json")).default;
		for (const spec of Object.values(raw.metrics)) expect(section).toContain(escapeHtml(spec.description));
		for (const spec of Object.values(raw.resource.attributes)) expect(section).toContain(escapeHtml(spec.description));
	});

	it("says how to opt out on the page itself", () => {
		expect(page).toContain("<code>voicemode-otel disable</code>");
		expect(page).toContain("<code>DO_NOT_TRACK=1</code>");
	});
});

describe("titles and style", () => {
	it("titles only keys the contract has", () => {
		const keys = new Set<string>([...CONTRACT.metrics.keys(), ...CONTRACT.pointAttributes.keys(), ...CONTRACT.resourceAttributes.keys(), ...(CONTRACT.pointAttributes.get("voicemode.provider.role")?.values ?? [])]);
		for (const key of TITLES.keys()) expect(keys, key).toContain(key);
	});

	it("has no markup-breaking sequence in the stylesheet", () => {
		expect(DASHBOARD_CSS).not.toMatch(/<\/|<!--/);
	});

	it.each([
		["light", LIGHT],
		["dark", DARK],
	] as const)("keeps text contrast at 4.5:1 or more in the %s palette", (_, p: Palette) => {
		for (const bg of [p.bg, p.card]) {
			expect(contrast(p.fg, bg)).toBeGreaterThanOrEqual(4.5);
			expect(contrast(p.muted, bg)).toBeGreaterThanOrEqual(4.5);
			expect(contrast(p.accent, bg)).toBeGreaterThanOrEqual(4.5);
		}
		expect(contrast(p.muted, p.codeBg)).toBeGreaterThanOrEqual(4.5);
		expect(contrast(p.fg, p.codeBg)).toBeGreaterThanOrEqual(4.5);
		expect(contrast(p.onAccent, p.accent)).toBeGreaterThanOrEqual(4.5);
		// Bars are graphics: 3:1 against the track and the card (WCAG 1.4.11).
		expect(contrast(p.accent, p.track)).toBeGreaterThanOrEqual(3);
	});

	it.each([
		["light", LIGHT],
		["dark", DARK],
	] as const)("keeps every trend colour at 3:1 or more against the card in the %s palette", (_, p: Palette) => {
		// Lines, points and version bands are graphics (WCAG 1.4.11); the bands are named by the legend and the table too.
		for (const colour of [p.accent, ...p.versions, p.older, p.hidden]) expect(contrast(colour, p.card)).toBeGreaterThanOrEqual(3);
		expect(p.versions).toHaveLength(VERSION_BANDS);
		expect(new Set(p.versions).size).toBe(p.versions.length);
	});
});

/** WCAG 2 contrast ratio of two #rrggbb colours. */
function contrast(a: string, b: string): number {
	const luminance = (hex: string): number => {
		const [r, g, bl] = [1, 3, 5].map((i) => {
			const c = Number.parseInt(hex.slice(i, i + 2), 16) / 255;
			return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
		}) as [number, number, number];
		return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
	};
	const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
	return (hi + 0.05) / (lo + 0.05);
}
