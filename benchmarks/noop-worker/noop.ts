/**
 * The reference for the Worker ingest benchmark: a Worker that reads the request body
 * and answers 200 with an empty body — no decoding, no validation, no D1. Started with
 * the same `wrangler dev --local` flags as the ingest Worker, so the difference between
 * the two is what ingestion itself costs.
 */
export default {
	async fetch(request): Promise<Response> {
		await request.arrayBuffer();
		return new Response(null, { status: 200 });
	},
} satisfies ExportedHandler;
