/**
 * Measurement probe for benchmarks/bench_worker.py and bench_scale.py (local only, never
 * deployed). It imports the ingest Worker's own modules from worker-otlp-ingest/src, so
 * wrangler bundles exactly the code the Worker runs, and exposes what the Worker's
 * responses do not show:
 *
 *   POST /cpu?n=N   decodeRequest → validateRequest → toRows, N times, on the posted
 *                   (uncompressed protobuf) body. workerd freezes Date.now() and
 *                   performance.now() while JavaScript runs, so the time is taken from
 *                   outside: the slope over N is the CPU per report.
 *   POST /store     the same, once, then the Worker's storeReport() (one DB.batch) on
 *                   local D1: answers {kind, rowsWritten} from D1's meta.rows_written.
 *   POST /earlier   the earlier design (facts §7): its `events` table with 4 indexes,
 *                   one INSERT of the posted JSON event plus the two KV counter puts it
 *                   made; answers {rowsWritten, kvPuts}.
 *   POST /sql       {sql, params}: runs one read statement, answers {rows, meta,
 *                   results}: the stats queries' cost (meta.rows_read, duration).
 *   POST /gunzip-whole  the ingest Worker's gzip reading before it inflated in steps
 *                   (the body handed to DecompressionStream in one piece, the output
 *                   read up to 1 MiB): 413 past it. The reference of the bomb row.
 */
import { storeReport } from "../../worker-otlp-ingest/src/db/reports";
import { decodeRequest } from "../../worker-otlp-ingest/src/ingest/otlp";
import { currentWindow, idBucket, ipBucket } from "../../worker-otlp-ingest/src/ingest/ratelimit";
import { toRows } from "../../worker-otlp-ingest/src/db/rows";
import { tombstoneKey } from "../../worker-otlp-ingest/src/ingest/tombstone";
import { validateRequest, type ValidReport } from "../../worker-otlp-ingest/src/ingest/validate";

interface Env {
	DB: D1Database;
	EARLIER: D1Database;
	KV: KVNamespace;
}

function validReport(body: Uint8Array, now: number): ValidReport | string {
	const decoded = decodeRequest(body, "protobuf");
	if (!decoded.ok) return decoded.reason;
	const [checked] = validateRequest(decoded.request, now);
	return checked?.ok ? checked.report : "not a valid report";
}

async function cpu(request: Request): Promise<Response> {
	const n = Number(new URL(request.url).searchParams.get("n") ?? "0");
	const body = new Uint8Array(await request.arrayBuffer());
	const now = Date.now();
	let cells = 0;
	for (let i = 0; i < n; i++) {
		const report = validReport(body, now);
		if (typeof report === "string") return new Response(report, { status: 400 });
		cells += toRows(report, now).report.cells.length;
	}
	return Response.json({ cells });
}

async function store(request: Request, env: Env): Promise<Response> {
	const now = Date.now();
	const report = validReport(new Uint8Array(await request.arrayBuffer()), now);
	if (typeof report === "string") return new Response(report, { status: 400 });
	const ip = await ipBucket("probe-key", request.headers.get("CF-Connecting-IP") ?? "unknown", now);
	const erased = await tombstoneKey("probe-key", report.telemetryId);
	const outcome = await storeReport(env.DB, toRows(report, now), [idBucket(report.telemetryId), ip], currentWindow(now).start, erased);
	return Response.json(outcome);
}

const EARLIER_SCHEMA = [
	`CREATE TABLE IF NOT EXISTS events (event_id TEXT PRIMARY KEY, telemetry_id TEXT NOT NULL, timestamp TEXT NOT NULL,
	 created_at TEXT NOT NULL, environment TEXT NOT NULL, usage TEXT NOT NULL, client_ip_hash TEXT NOT NULL)`,
	"CREATE INDEX IF NOT EXISTS idx_events_telemetry_id ON events(telemetry_id)",
	"CREATE INDEX IF NOT EXISTS idx_events_timestamp ON events(timestamp)",
	"CREATE INDEX IF NOT EXISTS idx_events_created_at ON events(created_at)",
	"CREATE INDEX IF NOT EXISTS idx_events_telemetry_timestamp ON events(telemetry_id, timestamp)",
];

interface EarlierEvent {
	event_id: string;
	telemetry_id: string;
	timestamp: string;
	environment: unknown;
	usage: unknown;
}

async function earlier(request: Request, env: Env): Promise<Response> {
	const event = (await request.json()) as EarlierEvent;
	await env.EARLIER.batch(EARLIER_SCHEMA.map((sql) => env.EARLIER.prepare(sql)));
	// What the earlier Worker did for a new event: idempotency check, both counters read,
	// the insert, both counters written back (get + 1, put with a one-hour TTL).
	const seen = await env.EARLIER.prepare("SELECT event_id FROM events WHERE event_id = ? LIMIT 1").bind(event.event_id).first();
	if (seen) return Response.json({ duplicate: true });
	const ipHash = "0123456789abcdef";
	const keys = [`rate:id:${event.telemetry_id}`, `rate:ip:${ipHash}`];
	const counts = await Promise.all(keys.map(async (k) => Number((await env.KV.get(k)) ?? "0")));
	const inserted = await env.EARLIER.prepare(
		"INSERT INTO events (event_id, telemetry_id, timestamp, created_at, environment, usage, client_ip_hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
	)
		.bind(event.event_id, event.telemetry_id, event.timestamp, new Date().toISOString(), JSON.stringify(event.environment), JSON.stringify(event.usage), ipHash)
		.run();
	await Promise.all(keys.map((k, i) => env.KV.put(k, String((counts[i] ?? 0) + 1), { expirationTtl: 3600 })));
	return Response.json({ rowsWritten: inserted.meta.rows_written, kvPuts: keys.length });
}

async function sql(request: Request, env: Env): Promise<Response> {
	const { sql: text, params } = (await request.json()) as { sql: string; params: unknown[] };
	const result = await env.DB.prepare(text).bind(...params).all();
	return Response.json({ rows: result.results.length, meta: result.meta, results: result.results });
}

/** The earlier body.ts gunzip, verbatim in effect: one write of the whole body, then a capped read. */
async function gunzipWhole(request: Request): Promise<Response> {
	const compressed = new Uint8Array(await request.arrayBuffer());
	const reader = new Blob([compressed]).stream().pipeThrough(new DecompressionStream("gzip")).getReader();
	let total = 0;
	const chunks: Uint8Array[] = [];
	for (;;) {
		const { done, value } = await reader.read();
		if (done) break;
		total += value.byteLength;
		if (total > 1024 * 1024) {
			await reader.cancel().catch(() => undefined);
			return new Response("too large\n", { status: 413 });
		}
		chunks.push(value);
	}
	return Response.json({ bytes: total, chunks: chunks.length });
}

export default {
	async fetch(request, env): Promise<Response> {
		const { pathname } = new URL(request.url);
		if (request.method !== "POST") return new Response("probe\n");
		if (pathname === "/cpu") return cpu(request);
		if (pathname === "/store") return store(request, env);
		if (pathname === "/earlier") return earlier(request, env);
		if (pathname === "/sql") return sql(request, env);
		if (pathname === "/gunzip-whole") return gunzipWhole(request);
		return new Response("not found\n", { status: 404 });
	},
} satisfies ExportedHandler<Env>;
