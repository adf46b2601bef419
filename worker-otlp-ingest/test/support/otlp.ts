/**
 * Builders for OTLP requests shaped like the Python client's (one resource, scope
 * `voicemode`, the three contract metrics, timestamps = period bounds), so each test
 * changes exactly one thing. Values come from the contract where it defines them.
 */
import { create, toBinary, toJson, type MessageInitShape } from "@bufbuild/protobuf";
import {
	ExportMetricsServiceRequestSchema,
	type ExportMetricsServiceRequest,
} from "../../src/gen/opentelemetry/proto/collector/metrics/v1/metrics_service_pb";
import type { KeyValue } from "../../src/gen/opentelemetry/proto/common/v1/common_pb";
import {
	AggregationTemporality,
	type HistogramDataPoint,
	type Metric,
	type NumberDataPoint,
} from "../../src/gen/opentelemetry/proto/metrics/v1/metrics_pb";
import { CONTRACT, DURATION, EXCHANGES, PROVIDERS } from "../../src/contract";

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

/** The start of the UTC hour `hours` hours before the one containing `nowMs`. */
export function hourMs(nowMs: number, hoursBack: number): number {
	return Math.floor(nowMs / HOUR_MS) * HOUR_MS - hoursBack * HOUR_MS;
}

export function nanos(ms: number): bigint {
	return BigInt(ms) * 1_000_000n;
}

export type Attrs = Record<string, string>;

export function keyValues(attrs: Attrs): MessageInitShape<typeof import("../../src/gen/opentelemetry/proto/common/v1/common_pb").KeyValueSchema>[] {
	return Object.entries(attrs).map(([key, value]) => ({ key, value: { value: { case: "stringValue", value } } }));
}

/** A full, valid resource for `id` (every optional fact present). */
export function resourceAttrs(id: string): Attrs {
	return {
		"service.name": "voicemode",
		"service.version": "8.12.0",
		"voicemode.telemetry.id": id,
		"os.type": "linux",
		"voicemode.install.method": "uv-tool",
		"voicemode.mcp.host": "claude-code",
		"voicemode.exec.source": "mcp",
	};
}

export interface HistogramPointSpec {
	transport: string;
	counts: number[];
}

export interface CounterPointSpec {
	role: string;
	name: string;
	value: number;
}

/** A typical day: 5 sessions, 4 local and 1 over LiveKit. */
export const TYPICAL = {
	duration: [
		{ transport: "local", counts: [2, 1, 1, 0, 0, 0] },
		{ transport: "livekit", counts: [0, 0, 0, 1, 0, 0] },
	],
	exchanges: [
		{ transport: "local", counts: [0, 3, 1, 0, 0] },
		{ transport: "livekit", counts: [0, 0, 0, 0, 1] },
	],
	providers: [
		{ role: "tts", name: "kokoro", value: 4 },
		{ role: "tts", name: "openai", value: 1 },
		{ role: "stt", name: "whisper-local", value: 5 },
	],
} satisfies { duration: HistogramPointSpec[]; exchanges: HistogramPointSpec[]; providers: CounterPointSpec[] };

/** The cells the Worker stores for TYPICAL (non-empty bins only, canonical order). */
export const TYPICAL_CELLS = [
	{ metric: "voicemode.session.duration", transport: "livekit", bin: "10-20min", sessions: 1 },
	{ metric: "voicemode.session.duration", transport: "local", bin: "<1min", sessions: 2 },
	{ metric: "voicemode.session.duration", transport: "local", bin: "1-5min", sessions: 1 },
	{ metric: "voicemode.session.duration", transport: "local", bin: "5-10min", sessions: 1 },
	{ metric: "voicemode.session.exchanges", transport: "livekit", bin: ">20", sessions: 1 },
	{ metric: "voicemode.session.exchanges", transport: "local", bin: "1-5", sessions: 3 },
	{ metric: "voicemode.session.exchanges", transport: "local", bin: "6-10", sessions: 1 },
	{ metric: "voicemode.session.providers", role: "stt", provider: "whisper-local", sessions: 5 },
	{ metric: "voicemode.session.providers", role: "tts", provider: "kokoro", sessions: 4 },
	{ metric: "voicemode.session.providers", role: "tts", provider: "openai", sessions: 1 },
];

/**
 * TYPICAL_CELLS as stored in `reports.cells`: [metric, transport or role, bin or
 * provider, sessions] as indexes into contract.json's lists, sorted — written out by
 * hand from the contract, not computed by the Worker's encoder.
 */
export const TYPICAL_STORED = "[[0,0,0,2],[0,0,1,1],[0,0,2,1],[0,1,3,1],[1,0,1,3],[1,0,2,1],[1,1,4,1],[2,0,0,1],[2,0,1,4],[2,1,2,5]]";

export const TYPICAL_POINTS = 7;

export interface ReportInit {
	id: string;
	startMs: number;
	endMs: number;
	resource?: Attrs;
	duration?: HistogramPointSpec[];
	exchanges?: HistogramPointSpec[];
	providers?: CounterPointSpec[];
}

type HistogramPointInit = MessageInitShape<typeof import("../../src/gen/opentelemetry/proto/metrics/v1/metrics_pb").HistogramDataPointSchema>;
type MetricInit = MessageInitShape<typeof import("../../src/gen/opentelemetry/proto/metrics/v1/metrics_pb").MetricSchema>;

function histogram(spec: typeof DURATION, points: HistogramPointSpec[], start: bigint, end: bigint): MetricInit {
	const dataPoints: HistogramPointInit[] = points.map((p) => ({
		attributes: keyValues({ "voicemode.transport": p.transport }),
		startTimeUnixNano: start,
		timeUnixNano: end,
		count: BigInt(p.counts.reduce((a, b) => a + b, 0)),
		bucketCounts: p.counts.map(BigInt),
		explicitBounds: [...spec.boundaries],
	}));
	return {
		name: spec.name,
		unit: spec.unit,
		data: { case: "histogram", value: { dataPoints, aggregationTemporality: AggregationTemporality.DELTA } },
	};
}

function counter(points: CounterPointSpec[], start: bigint, end: bigint): MetricInit {
	const spec = CONTRACT.metrics.get(PROVIDERS);
	return {
		name: PROVIDERS,
		unit: spec?.unit ?? "",
		data: {
			case: "sum",
			value: {
				isMonotonic: true,
				aggregationTemporality: AggregationTemporality.DELTA,
				dataPoints: points.map((p) => ({
					attributes: keyValues({ "voicemode.provider.role": p.role, "voicemode.provider.name": p.name }),
					startTimeUnixNano: start,
					timeUnixNano: end,
					value: { case: "asInt", value: BigInt(p.value) },
				})),
			},
		},
	};
}

/** A request with one resource per report. */
export function buildRequest(...reports: ReportInit[]): ExportMetricsServiceRequest {
	return create(ExportMetricsServiceRequestSchema, {
		resourceMetrics: reports.map((r) => {
			const [start, end] = [nanos(r.startMs), nanos(r.endMs)];
			const metrics: MetricInit[] = [];
			const duration = r.duration ?? TYPICAL.duration;
			const exchanges = r.exchanges ?? TYPICAL.exchanges;
			const providers = r.providers ?? TYPICAL.providers;
			if (duration.length) metrics.push(histogram(DURATION, duration, start, end));
			if (exchanges.length) metrics.push(histogram(EXCHANGES, exchanges, start, end));
			if (providers.length) metrics.push(counter(providers, start, end));
			return {
				resource: { attributes: keyValues(r.resource ?? resourceAttrs(r.id)) },
				scopeMetrics: [{ scope: { name: "voicemode", version: "0.1.0" }, metrics }],
			};
		}),
	});
}

/** A typical report for `id` covering the 24 hours before the current hour. */
export function typicalRequest(id: string, nowMs = Date.now()): ExportMetricsServiceRequest {
	return buildRequest({ id, startMs: hourMs(nowMs, 24), endMs: hourMs(nowMs, 0) });
}

export function toProtobuf(request: ExportMetricsServiceRequest): Uint8Array {
	return toBinary(ExportMetricsServiceRequestSchema, request);
}

/** OTLP/JSON: lowerCamelCase, 64-bit integers as strings, enums as integers. */
export function toOtlpJson(request: ExportMetricsServiceRequest): string {
	return JSON.stringify(toJson(ExportMetricsServiceRequestSchema, request, { enumAsInteger: true }));
}

export async function gzip(bytes: Uint8Array | string): Promise<Uint8Array> {
	const input = typeof bytes === "string" ? new TextEncoder().encode(bytes) : new Uint8Array(bytes);
	const stream = new Blob([input]).stream().pipeThrough(new CompressionStream("gzip"));
	return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** All points of the request's metrics, for mutation in tests. */
export function metricsOf(request: ExportMetricsServiceRequest, resource = 0): Metric[] {
	return request.resourceMetrics[resource]?.scopeMetrics.flatMap((s) => s.metrics) ?? [];
}

export function histogramPoints(request: ExportMetricsServiceRequest, name: string): HistogramDataPoint[] {
	const m = metricsOf(request).find((x) => x.name === name);
	return m?.data.case === "histogram" ? m.data.value.dataPoints : [];
}

export function counterPoints(request: ExportMetricsServiceRequest): NumberDataPoint[] {
	const m = metricsOf(request).find((x) => x.name === PROVIDERS);
	return m?.data.case === "sum" ? m.data.value.dataPoints : [];
}

export function resourceOf(request: ExportMetricsServiceRequest, i = 0): KeyValue[] {
	const rm = request.resourceMetrics[i];
	if (!rm?.resource) throw new Error("no resource");
	return rm.resource.attributes;
}
