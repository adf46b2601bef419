/**
 * GET /v1/stats?days=N: the public aggregates as JSON (see stats.ts for what is
 * counted and suppressed). Cacheable for a few minutes: the rollups move once an hour.
 */
import { errorResponse, jsonResponse } from "./http";
import { rollupOnRead } from "./rollup";
import { MAX_DAYS, daysFrom, minInstallationsFrom, readStats } from "./stats";

export async function handleStats(request: Request, env: Env, nowMs: number): Promise<Response> {
	const days = daysFrom(new URL(request.url).searchParams.get("days"));
	if (days === null) return errorResponse(400, `days must be an integer from 1 to ${MAX_DAYS}`);
	try {
		await rollupOnRead(env, nowMs);
		const stats = await readStats(env.DB, nowMs, days, minInstallationsFrom(env.STATS_MIN_INSTALLATIONS));
		return jsonResponse(stats, { "Cache-Control": "public, max-age=300" });
	} catch {
		return errorResponse(503, "storage unavailable", "json", { "Retry-After": "60" });
	}
}
