/**
 * voicemode-otel ingest Worker: the router and the cron entry point. Each route is a
 * small handler in its own module (routes/), each cron step a job (jobs/); README.md is
 * the map of src/, docs/worker-api.md the endpoints.
 */
import { runScheduled } from "./jobs/cron";
import { handleDashboard } from "./routes/dashboard";
import { establishedFrom } from "./db/established";
import { handleHealth } from "./routes/health";
import { handleDeleteInstallation } from "./routes/installations";
import { handleMetrics } from "./routes/metrics";
import { errorResponse, methodNotAllowed, notFound } from "./routes/http";
import { encodingOf, type Encoding } from "./ingest/otlp";
import { minInstallationsFrom } from "./stats/window";
import { handleStats } from "./routes/stats";

const INSTALLATION_PATH = /^\/v1\/installations\/([^/]+)$/;

/**
 * The encoding error bodies outside the handlers use: the request's OTLP encoding, so an
 * OTLP exporter that posted protobuf can read the Status (the Collector's does), else JSON.
 */
function errorEncoding(request: Request): Encoding {
	return encodingOf(request.headers.get("Content-Type")) ?? "json";
}

async function route(request: Request, env: Env, now: number): Promise<Response> {
	const { pathname } = new URL(request.url);
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
	return notFound(errorEncoding(request));
}

/**
 * Every answer states the time it was judged at (RFC 9110 §6.6.1): a client whose clock
 * is off sees by how much, and holds its reports instead of sending periods this Worker
 * would refuse as being in the future (or record a refusal as delivered).
 */
function dated(response: Response, now: number): Response {
	response.headers.set("Date", new Date(now).toUTCString());
	return response;
}

export default {
	async fetch(request, env): Promise<Response> {
		const now = Date.now();
		let response: Response;
		try {
			response = await route(request, env, now);
		} catch (error) {
			// Handlers return their own errors; anything reaching here is a bug or a D1
			// outage. Log it, and answer retryably without a stack or message.
			console.error("unhandled", error instanceof Error ? error.name : typeof error);
			response = errorResponse(503, "temporarily unavailable", errorEncoding(request), { "Retry-After": "60" });
		}
		return dated(response, now);
	},
	async scheduled(controller, env): Promise<void> {
		const rule = establishedFrom(env.STATS_ESTABLISHED);
		await runScheduled(env.DB, controller.cron, controller.scheduledTime, minInstallationsFrom(env.STATS_MIN_INSTALLATIONS), rule);
	},
} satisfies ExportedHandler<Env>;
