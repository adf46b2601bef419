/**
 * GET /v1/stats?days=N: the public aggregates of the window as JSON (stats/window.ts), and
 * with `series=day|week` the window's time series instead (stats/series.ts): per day or week,
 * from the two-year history, so `days` may then reach back 730 days. Cacheable for a
 * few minutes: the rollups move once an hour.
 */
import { errorResponse, jsonResponse } from "./http";
import { rollupOnRead } from "../jobs/rollup";
import { SERIES_MAX_DAYS, grainFrom } from "../stats/series";
import { MAX_DAYS, daysFrom, minInstallationsFrom } from "../stats/window";
import { readSeries, readStats } from "../stats/read";

export async function handleStats(request: Request, env: Env, nowMs: number): Promise<Response> {
	const params = new URL(request.url).searchParams;
	const grain = grainFrom(params.get("series"));
	if (grain === "invalid") return errorResponse(400, "series must be day or week");
	const max = grain === null ? MAX_DAYS : SERIES_MAX_DAYS;
	const days = daysFrom(params.get("days"), max);
	if (days === null) return errorResponse(400, `days must be an integer from 1 to ${max}`);
	const minInstallations = minInstallationsFrom(env.STATS_MIN_INSTALLATIONS);
	try {
		await rollupOnRead(env, nowMs);
		const body = grain === null ? await readStats(env.DB, nowMs, days, minInstallations) : await readSeries(env.DB, nowMs, grain, days, minInstallations);
		return jsonResponse(body, { "Cache-Control": "public, max-age=300" });
	} catch {
		return errorResponse(503, "storage unavailable", "json", { "Retry-After": "60" });
	}
}
