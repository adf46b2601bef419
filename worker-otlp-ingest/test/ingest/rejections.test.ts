/**
 * Every contract rule, one test each, through the Worker's fetch handler: the request
 * is a typical valid report with exactly one thing broken. Each must come back 200
 * (the body decoded) with all 7 points refused in partial_success naming the rule,
 * and must leave every table exactly as it was.
 */
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import type { ExportMetricsServiceRequest } from "../../src/gen/opentelemetry/proto/collector/metrics/v1/metrics_service_pb";
import { AnyValueSchema, KeyValueSchema } from "../../src/gen/opentelemetry/proto/common/v1/common_pb";
import { AggregationTemporality, ExemplarSchema, MetricSchema, SumSchema } from "../../src/gen/opentelemetry/proto/metrics/v1/metrics_pb";
import {
	DAY_MS,
	HOUR_MS,
	TYPICAL_POINTS,
	buildRequest,
	counterPoints,
	histogramPoints,
	hourMs,
	metricsOf,
	nanos,
	resourceAttrs,
	resourceOf,
} from "../support/otlp";
import { exportResult, send, snapshot, uuid } from "../support/worker";

const DURATION = "voicemode.session.duration";
const EXCHANGES = "voicemode.session.exchanges";
const PROVIDERS = "voicemode.session.providers";

type Mutation = (request: ExportMetricsServiceRequest, id: string) => void;

function typical(id: string): ExportMetricsServiceRequest {
	const now = Date.now();
	return buildRequest({ id, startMs: hourMs(now, 24), endMs: hourMs(now, 0) });
}

function withResource(attrs: (id: string) => Record<string, string>): (id: string) => ExportMetricsServiceRequest {
	return (id) => {
		const now = Date.now();
		return buildRequest({ id, startMs: hourMs(now, 24), endMs: hourMs(now, 0), resource: attrs(id) });
	};
}

function withPeriod(startMs: (now: number) => number, endMs: (now: number) => number): (id: string) => ExportMetricsServiceRequest {
	return (id) => {
		const now = Date.now();
		return buildRequest({ id, startMs: startMs(now), endMs: endMs(now) });
	};
}

function without(key: string): (id: string) => Record<string, string> {
	return (id) => {
		const attrs = resourceAttrs(id);
		delete attrs[key];
		return attrs;
	};
}

const first = <T>(items: T[]): T => {
	const item = items[0];
	if (item === undefined) throw new Error("fixture has no such item");
	return item;
};

function mutate(m: Mutation): (id: string) => ExportMetricsServiceRequest {
	return (id) => {
		const request = typical(id);
		m(request, id);
		return request;
	};
}

function metric(request: ExportMetricsServiceRequest, name: string) {
	return first(metricsOf(request).filter((m) => m.name === name));
}

const cases: [rule: string, build: (id: string) => ExportMetricsServiceRequest, reason: string][] = [
	// Resource
	["service.name is required", withResource(without("service.name")), "resource: service.name missing"],
	["service.name must be voicemode", withResource((id) => ({ ...resourceAttrs(id), "service.name": "other" })), "resource: service.name value not allowed"],
	["the telemetry ID is required", withResource(without("voicemode.telemetry.id")), "resource: voicemode.telemetry.id missing"],
	["the telemetry ID must be a UUIDv4", withResource((id) => ({ ...resourceAttrs(id), "voicemode.telemetry.id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8" })), "resource: voicemode.telemetry.id value not allowed"],
	["the telemetry ID must be lower case", withResource((id) => ({ ...resourceAttrs(id), "voicemode.telemetry.id": id.toUpperCase() })), "resource: voicemode.telemetry.id value not allowed"],
	["resource keys outside the allow-list are refused", withResource((id) => ({ ...resourceAttrs(id), "host.name": "laptop" })), "resource: attribute host.name not allowed"],
	["closed resource values are enforced", withResource((id) => ({ ...resourceAttrs(id), "os.type": "beos" })), "resource: os.type value not allowed"],
	["patterned resource values are enforced (no local version part)", withResource((id) => ({ ...resourceAttrs(id), "service.version": "8.12.0+g1234abc" })), "resource: service.version value not allowed"],
	["resource values are at most 64 characters", withResource((id) => ({ ...resourceAttrs(id), "voicemode.mcp.host": "x".repeat(65) })), "resource: voicemode.mcp.host longer than 64 characters"],
	[
		"resource values must be strings",
		mutate((r) => {
			const kv = first(resourceOf(r).filter((a) => a.key === "os.type"));
			kv.value = create(AnyValueSchema, { value: { case: "intValue", value: 1n } });
		}),
		"resource: attribute os.type must be a string",
	],
	[
		"a resource key may appear once",
		mutate((r) => {
			resourceOf(r).push(create(KeyValueSchema, { key: "os.type", value: { value: { case: "stringValue", value: "darwin" } } }));
		}),
		"resource: attribute os.type repeated",
	],
	// Scope and metrics
	[
		"the scope must be the contract's",
		mutate((r) => {
			const scope = r.resourceMetrics[0]?.scopeMetrics[0]?.scope;
			if (scope) scope.name = "io.opentelemetry.other";
		}),
		"scope: name must be voicemode",
	],
	[
		"metrics outside the contract are refused",
		mutate((r) => {
			r.resourceMetrics[0]?.scopeMetrics[0]?.metrics.push(create(MetricSchema, { name: "voicemode.session.secret", unit: "1", data: { case: "gauge", value: { dataPoints: [] } } }));
		}),
		"metric voicemode.session.secret not in the contract",
	],
	[
		"a histogram metric must be a histogram",
		mutate((r) => {
			// The same sessions sent as a counter per transport: same number of points.
			const m = metric(r, DURATION);
			const points = histogramPoints(r, DURATION).map((p) => ({ attributes: p.attributes, startTimeUnixNano: p.startTimeUnixNano, timeUnixNano: p.timeUnixNano, value: { case: "asInt" as const, value: p.count } }));
			m.data = { case: "sum", value: create(SumSchema, { dataPoints: points, isMonotonic: true, aggregationTemporality: AggregationTemporality.DELTA }) };
		}),
		`${DURATION}: must be an explicit-bucket histogram`,
	],
	["units must match the contract", mutate((r) => (metric(r, DURATION).unit = "ms")), `${DURATION}: unit must be s`],
	["bucket boundaries must be exactly the contract's", mutate((r) => (first(histogramPoints(r, DURATION)).explicitBounds = [60, 300, 600, 1200, 3599])), `${DURATION}: bucket boundaries differ from the contract`],
	[
		"histograms must be DELTA",
		mutate((r) => {
			const m = metric(r, EXCHANGES);
			if (m.data.case === "histogram") m.data.value.aggregationTemporality = AggregationTemporality.CUMULATIVE;
		}),
		`${EXCHANGES}: temporality must be DELTA`,
	],
	[
		"the counter must be monotonic",
		mutate((r) => {
			const m = metric(r, PROVIDERS);
			if (m.data.case === "sum") m.data.value.isMonotonic = false;
		}),
		`${PROVIDERS}: must be a monotonic sum (counter)`,
	],
	[
		"the counter must be DELTA",
		mutate((r) => {
			const m = metric(r, PROVIDERS);
			if (m.data.case === "sum") m.data.value.aggregationTemporality = AggregationTemporality.CUMULATIVE;
		}),
		`${PROVIDERS}: temporality must be DELTA`,
	],
	["metric metadata is refused", mutate((r) => metric(r, DURATION).metadata.push(create(KeyValueSchema, { key: "k", value: { value: { case: "stringValue", value: "v" } } }))), `${DURATION}: metadata not allowed`],
	// Privacy: a point carrying exact values means the client broke its promise
	["a histogram sum is refused", mutate((r) => (first(histogramPoints(r, DURATION)).sum = 1234)), `${DURATION}: sum not allowed`],
	["a histogram sum of zero is refused too (presence, not value)", mutate((r) => (first(histogramPoints(r, EXCHANGES)).sum = 0)), `${EXCHANGES}: sum not allowed`],
	["a histogram min is refused", mutate((r) => (first(histogramPoints(r, DURATION)).min = 12)), `${DURATION}: min not allowed`],
	["a histogram max is refused", mutate((r) => (first(histogramPoints(r, DURATION)).max = 4000)), `${DURATION}: max not allowed`],
	["histogram exemplars are refused", mutate((r) => first(histogramPoints(r, DURATION)).exemplars.push(create(ExemplarSchema, { value: { case: "asDouble", value: 42 } }))), `${DURATION}: exemplars not allowed`],
	["counter exemplars are refused", mutate((r) => first(counterPoints(r)).exemplars.push(create(ExemplarSchema, { value: { case: "asInt", value: 1n } }))), `${PROVIDERS}: exemplars not allowed`],
	// Point attributes
	["point attributes outside the metric's keys are refused", mutate((r) => first(histogramPoints(r, DURATION)).attributes.push(create(KeyValueSchema, { key: "host", value: { value: { case: "stringValue", value: "x" } } }))), `${DURATION}: attribute host not allowed`],
	["another metric's attribute is refused", mutate((r) => first(counterPoints(r)).attributes.push(create(KeyValueSchema, { key: "voicemode.transport", value: { value: { case: "stringValue", value: "local" } } }))), `${PROVIDERS}: attribute voicemode.transport not allowed`],
	["every point carries all of its metric's attributes", mutate((r) => (first(histogramPoints(r, DURATION)).attributes = [])), `${DURATION}: attribute voicemode.transport missing`],
	[
		"closed point values are enforced",
		mutate((r) => {
			const v = first(histogramPoints(r, DURATION)).attributes[0]?.value?.value;
			if (v?.case === "stringValue") v.value = "carrier-pigeon";
		}),
		`${DURATION}: voicemode.transport value not allowed`,
	],
	[
		"a raw provider URL never passes",
		mutate((r) => {
			const v = first(counterPoints(r)).attributes.find((a) => a.key === "voicemode.provider.name")?.value?.value;
			if (v?.case === "stringValue") v.value = "http://127.0.0.1:8880/v1";
		}),
		`${PROVIDERS}: voicemode.provider.name value not allowed`,
	],
	// Point values
	["bucket counts must add up to count", mutate((r) => (first(histogramPoints(r, DURATION)).count += 1n)), `${DURATION}: bucket counts do not add up to count`],
	["there is one bucket count per contract bin", mutate((r) => first(histogramPoints(r, DURATION)).bucketCounts.push(0n)), `${DURATION}: 6 bucket counts required`],
	["point flags are refused", mutate((r) => (first(histogramPoints(r, DURATION)).flags = 1)), `${DURATION}: flags not allowed`],
	["counter values are integers", mutate((r) => (first(counterPoints(r)).value = { case: "asDouble", value: 4 })), `${PROVIDERS}: value must be a non-negative integer (as_int)`],
	[
		"two points with the same attributes would count twice",
		mutate((r) => {
			const [kokoro, openai] = counterPoints(r);
			if (kokoro && openai) openai.attributes = kokoro.attributes;
		}),
		`${PROVIDERS}: two points with the same attributes`,
	],
	// Period
	["the period starts on a whole UTC hour", withPeriod((n) => hourMs(n, 24) + 60_000, (n) => hourMs(n, 0)), "period: start is not a whole UTC hour"],
	["the period ends on a whole UTC hour", withPeriod((n) => hourMs(n, 24), (n) => hourMs(n, 1) + 1), "period: end is not a whole UTC hour"],
	["the period starts before it ends", withPeriod((n) => hourMs(n, 1), (n) => hourMs(n, 1)), "period: start must be before end"],
	["the period is at most 8 days", withPeriod((n) => hourMs(n, 8 * 24 + 1), (n) => hourMs(n, 0)), "period: longer than 8 days"],
	["the period does not end in the future", withPeriod((n) => hourMs(n, 0), (n) => hourMs(n, -2)), "period: ends in the future"],
	["the period ended at most 90 days ago", withPeriod((n) => hourMs(n, 0) - 91 * DAY_MS, (n) => hourMs(n, 0) - 90 * DAY_MS - HOUR_MS), "period: ended more than 90 days ago"],
	["all points share the period", mutate((r) => (first(histogramPoints(r, EXCHANGES)).startTimeUnixNano -= nanos(HOUR_MS))), "period: points have different timestamps"],
	// Consistency between metrics
	[
		"both histograms count the same sessions per transport",
		mutate((r) => {
			const p = first(histogramPoints(r, EXCHANGES));
			p.bucketCounts[0] = (p.bucketCounts[0] ?? 0n) + 1n;
			p.count += 1n;
		}),
		`report: ${DURATION} and ${EXCHANGES} count different sessions`,
	],
	[
		"no provider count exceeds the sessions",
		mutate((r) => {
			const p = first(counterPoints(r));
			p.value = { case: "asInt", value: 6n };
		}),
		`report: a ${PROVIDERS} count exceeds the sessions`,
	],
];

describe("contract rejections (200, all points refused, nothing stored)", () => {
	it.each(cases)("%s", async (_rule, build, reason) => {
		const before = await snapshot();
		const res = await send(build(uuid()));
		expect(res.status).toBe(200);
		expect(await exportResult(res)).toEqual({ rejected: TYPICAL_POINTS, message: `7 data points rejected: ${reason}` });
		expect(await snapshot()).toEqual(before);
	});

	it("rejects in OTLP/JSON too, answering in JSON", async () => {
		const before = await snapshot();
		const request = typical(uuid());
		first(histogramPoints(request, DURATION)).sum = 1;
		const res = await send(request, "json");
		expect(res.headers.get("Content-Type")).toBe("application/json");
		expect(await res.json()).toEqual({
			partialSuccess: { rejectedDataPoints: "7", errorMessage: `7 data points rejected: ${DURATION}: sum not allowed` },
		});
		expect(await snapshot()).toEqual(before);
	});

	it("says 'data point' for a single refused point", async () => {
		const now = Date.now();
		const request = buildRequest({ id: uuid(), startMs: hourMs(now, 2), endMs: hourMs(now, 1), duration: [], exchanges: [], providers: [{ role: "tts", name: "kokoro", value: 1 }] });
		expect(await exportResult(await send(request))).toEqual({
			rejected: 1,
			message: `1 data point rejected: report: a ${PROVIDERS} count exceeds the sessions`,
		});
	});

	it("names at most four reasons, privacy breaches first, and counts the rest", async () => {
		const request = withResource((id) => ({ ...resourceAttrs(id), "host.name": "h", "os.type": "beos", "voicemode.mcp.host": "emacs" }))(uuid());
		first(histogramPoints(request, DURATION)).max = 5;
		first(histogramPoints(request, EXCHANGES)).sum = 5;
		const res = await send(request);
		expect(await exportResult(res)).toEqual({
			rejected: 7,
			message:
				`7 data points rejected: ${DURATION}: max not allowed; ${EXCHANGES}: sum not allowed; ` +
				"resource: os.type value not allowed; resource: voicemode.mcp.host value not allowed (+1 more)",
		});
	});
});
