/**
 * voicemode-otel ingest Worker: the router and the cron entry point. Each route is a
 * small handler in its own module; see README.md for the endpoints.
 */
import { runScheduled } from "./cron";
import { handleDashboard } from "./dashboard-route";
import { establishedFrom } from "./established";
import { handleHealth } from "./health";
import { handleDeleteInstallation } from "./installations";
import { handleMetrics } from "./ingest";
import { errorResponse, methodNotAllowed, notFound } from "./http";
import { minInstallationsFrom } from "./stats";
import { handleStats } from "./stats-route";

const INSTALLATION_PATH = /^\/v1\/installations\/([^/]+)$/;

async function route(request: Request, env: Env): Promise<Response> {
	const { pathname } = new URL(request.url);
	const now = Date.now();
	const { method } = request;
	if (pathname === "/v1/metrics") {
		return method === "POST" ? handleMetrics(request, env, now) : methodNotAllowed("POST");
	}
	const installation = INSTALLATION_PATH.exec(pathname);
	if (installation) {
		return method === "DELETE" ? handleDeleteInstallation(request, env, installation[1] ?? "", now) : methodNotAllowed("DELETE");
	}
	if (pathname === "/v1/stats") {
		return method === "GET" ? handleStats(request, env, now) : methodNotAllowed("GET");
	}
	if (pathname === "/") {
		return method === "GET" || method === "HEAD" ? handleDashboard(request, env, now) : methodNotAllowed("GET, HEAD");
	}
	if (pathname === "/v1/health") {
		return method === "GET" ? handleHealth(env, now) : methodNotAllowed("GET");
	}
	if (pathname === "/healthz") {
		return method === "GET" ? new Response("ok\n") : methodNotAllowed("GET");
	}
	return notFound();
}

export default {
	async fetch(request, env): Promise<Response> {
		try {
			return await route(request, env);
		} catch (error) {
			// Handlers return their own errors; anything reaching here is a bug or a D1
			// outage. Log it, and answer retryably without a stack or message.
			console.error("unhandled", error instanceof Error ? error.name : typeof error);
			return errorResponse(503, "temporarily unavailable", "json", { "Retry-After": "60" });
		}
	},
	async scheduled(controller, env): Promise<void> {
		const rule = establishedFrom(env.STATS_ESTABLISHED);
		await runScheduled(env.DB, controller.cron, controller.scheduledTime, minInstallationsFrom(env.STATS_MIN_INSTALLATIONS), rule);
	},
} satisfies ExportedHandler<Env>;
