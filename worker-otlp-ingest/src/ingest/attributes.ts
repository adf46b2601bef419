/**
 * Attribute checks shared by resources and points: OTLP KeyValue lists → plain string
 * records, against the contract's allow-lists, closed sets, patterns and length cap.
 */
import type { KeyValue } from "../gen/opentelemetry/proto/common/v1/common_pb";
import { CONTRACT, SERVICE_NAME, TELEMETRY_ID, allows, type AttributeRule, type CounterSpec, type HistogramSpec } from "../contract";
import { shown, type Reasons } from "./reasons";

/** The resource facts a report keeps: its ID and the optional environment attributes. */
export interface ResourceFacts {
	readonly telemetryId: string;
	readonly environment: Readonly<Record<string, string>>;
}

/**
 * Reads a KeyValue list into a record of string values. Non-string values, duplicate
 * keys and dictionary-indexed keys (profiles only) are reasons, not values.
 */
function readAttributes(list: readonly KeyValue[], where: string, reasons: Reasons): Map<string, string> {
	const out = new Map<string, string>();
	for (const kv of list) {
		const key = shown(kv.key);
		if (kv.keyStrindex !== 0 || kv.key === "") {
			reasons.add(`${where}: attribute without a key`);
		} else if (out.has(kv.key)) {
			reasons.add(`${where}: attribute ${key} repeated`);
		} else if (kv.value?.value.case !== "stringValue") {
			reasons.add(`${where}: attribute ${key} must be a string`);
		} else {
			out.set(kv.key, kv.value.value.value);
		}
	}
	return out;
}

/** A value is at most max_value_length long and in its key's closed set or pattern. */
function checkValue(rule: AttributeRule, value: string, where: string, reasons: Reasons): void {
	if (value.length > CONTRACT.maxValueLength) {
		reasons.add(`${where}: ${rule.key} longer than ${CONTRACT.maxValueLength} characters`);
	} else if (!allows(rule, value)) {
		reasons.add(`${where}: ${rule.key} value not allowed`);
	}
}

/**
 * Resource attributes: only the contract's keys (plus ignored ones such as the SDK's
 * `telemetry.sdk.*`, whatever their values), with allowed values, required ones
 * present. Returns the facts to store, or null without a telemetry ID.
 */
export function checkResource(list: readonly KeyValue[], reasons: Reasons): ResourceFacts | null {
	const ignored = (key: string): boolean => CONTRACT.ignoredResourcePrefixes.some((prefix) => key.startsWith(prefix));
	const attrs = readAttributes(list.filter((kv) => !ignored(kv.key)), "resource", reasons);
	const environment: Record<string, string> = {};
	for (const [key, value] of attrs) {
		const rule = CONTRACT.resourceAttributes.get(key);
		if (!rule) {
			reasons.add(`resource: attribute ${shown(key)} not allowed`);
			continue;
		}
		checkValue(rule, value, "resource", reasons);
		if (key !== SERVICE_NAME && key !== TELEMETRY_ID) environment[key] = value;
	}
	for (const key of CONTRACT.resourceRequired) {
		if (!attrs.has(key)) reasons.add(`resource: ${key} missing`);
	}
	const telemetryId = attrs.get(TELEMETRY_ID);
	return telemetryId === undefined ? null : { telemetryId, environment };
}

/** A point must carry exactly its metric's attribute keys, each with an allowed value. */
export function checkPointAttributes(
	spec: HistogramSpec | CounterSpec,
	list: readonly KeyValue[],
	reasons: Reasons,
): Record<string, string> | null {
	const where = spec.name;
	const attrs = readAttributes(list, where, reasons);
	const out: Record<string, string> = {};
	let ok = true;
	for (const [key, value] of attrs) {
		const rule = CONTRACT.pointAttributes.get(key);
		if (!rule || !spec.attributes.includes(key)) {
			reasons.add(`${where}: attribute ${shown(key)} not allowed`);
			ok = false;
			continue;
		}
		const before = reasons.added;
		checkValue(rule, value, where, reasons);
		ok &&= reasons.added === before;
		out[key] = value;
	}
	for (const key of spec.attributes) {
		if (!attrs.has(key)) {
			reasons.add(`${where}: attribute ${key} missing`);
			ok = false;
		}
	}
	return ok && attrs.size === list.length ? out : null;
}
