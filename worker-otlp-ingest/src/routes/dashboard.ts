/**
 * GET / (and HEAD /): the public dashboard page: the window's stats and its day and
 * week series (three D1 reads, in parallel).
 *
 * `days` must be one of the offered windows (7, 30, 90); absent means 30. Anything else
 * is a 400 page with fixed text — the raw value is never echoed.
 *
 * Headers:
 *  - Content-Security-Policy: nothing may load or run. `default-src 'none'` blocks
 *    scripts, images, fonts, frames and connections; the one inline <style> is allowed
 *    by its SHA-256 hash, so even an injected style element or attribute would not apply.
 *    The hash is computed here from the exact stylesheet string with crypto.subtle on
 *    each request (a few microseconds for ~5 KB), so it cannot drift from the CSS the
 *    way a precomputed constant could. A hash rather than a nonce keeps the page
 *    cacheable. `base-uri`, `form-action` and `frame-ancestors` do not fall back to
 *    `default-src`, so they are set to 'none' explicitly.
 *  - Cache-Control: `public, max-age=300` like /v1/stats (the numbers move when reports
 *    arrive, about once a day per installation), plus `stale-while-revalidate=3600`: a
 *    repeat visit within the hour after expiry is answered from cache at once while a
 *    fresh copy is fetched. Error pages are `no-store`.
 *  - nosniff, no referrer (links to the JSON leak nothing).
 */
import { WINDOWS, renderDashboard, renderProblem } from "../dashboard/page";
import { DASHBOARD_CSS } from "../dashboard/style";
import { rollupOnRead } from "../jobs/rollup";
import { DEFAULT_DAYS, minInstallationsFrom } from "../stats/window";
import { readSeries, readStats } from "../stats/read";

export const PAGE_CACHE_CONTROL = "public, max-age=300, stale-while-revalidate=3600";

/** The `days` query parameter: absent → 30; one of the offered windows; else null. */
export function windowFrom(value: string | null): number | null {
	if (value === null) return DEFAULT_DAYS;
	const n = /^[0-9]{1,2}$/.test(value) ? Number(value) : Number.NaN;
	return WINDOWS.includes(n) ? n : null;
}

/** A CSP hash source for an inline element's exact text: 'sha256-<base64>'. */
export async function hashSource(text: string): Promise<string> {
	const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
	return `'sha256-${btoa(String.fromCharCode(...digest))}'`;
}

/** The Content-Security-Policy for a page whose only inline content is the stylesheet. */
export async function contentSecurityPolicy(): Promise<string> {
	const style = await hashSource(DASHBOARD_CSS);
	return `default-src 'none'; style-src ${style}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
}

async function htmlResponse(request: Request, status: number, body: string, cacheControl: string, extra: Record<string, string> = {}): Promise<Response> {
	const headers = {
		"Content-Type": "text/html; charset=utf-8",
		"Content-Security-Policy": await contentSecurityPolicy(),
		"Cache-Control": cacheControl,
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy": "no-referrer",
		...extra,
	};
	return new Response(request.method === "HEAD" ? null : body, { status, headers });
}

export async function handleDashboard(request: Request, env: Env, nowMs: number): Promise<Response> {
	const days = windowFrom(new URL(request.url).searchParams.get("days"));
	if (days === null) return htmlResponse(request, 400, renderProblem("bad-window"), "no-store");
	const minInstallations = minInstallationsFrom(env.STATS_MIN_INSTALLATIONS);
	let view;
	try {
		await rollupOnRead(env, nowMs);
		const [stats, day, week] = await Promise.all([
			readStats(env.DB, nowMs, days, minInstallations),
			readSeries(env.DB, nowMs, "day", days, minInstallations),
			readSeries(env.DB, nowMs, "week", days, minInstallations),
		]);
		view = { stats, minInstallations, nowMs, trends: { day, week, minInstallations } };
	} catch {
		return htmlResponse(request, 503, renderProblem("unavailable"), "no-store", { "Retry-After": "60" });
	}
	return htmlResponse(request, 200, renderDashboard(view), PAGE_CACHE_CONTROL);
}
