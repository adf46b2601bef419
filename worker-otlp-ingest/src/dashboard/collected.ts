/**
 * "What is collected", generated from contract.json — the same file the Python client
 * builds its reports from and the Worker validates them against — so the page can only
 * describe what is really sent: every metric with its description, bins and split, and
 * every installation fact with its description and closed value set.
 */
import raw from "../../../voicemode_otel/contract.json";
import { CONTRACT, type AttributeRule } from "../contract";
import { html, type Html } from "./html";

interface Described {
	readonly description?: string;
}

// ../contract.ts keeps only what validation needs; the descriptions are read here.
const METRIC_TEXT: Readonly<Record<string, Described>> = raw.metrics;
const POINT_TEXT: Readonly<Record<string, Described>> = raw.point_attributes;
const RESOURCE_TEXT: Readonly<Record<string, Described>> = raw.resource.attributes;

/** A metric's or attribute's description from the contract, if it has one. */
export function descriptionOf(key: string): string | undefined {
	return (METRIC_TEXT[key] ?? POINT_TEXT[key] ?? RESOURCE_TEXT[key])?.description;
}

function list(values: readonly string[]): Html {
	return html`${values.map((v, i) => html`${i > 0 ? ", " : ""}<code>${v}</code>`)}`;
}

function metricEntries(): Html[] {
	return [...CONTRACT.metrics.values()].map((spec) => {
		const detail = spec.instrument === "histogram" ? html` Bins: ${list(spec.bins)}.` : "";
		const labels = spec.attributes.map((key, i) => html`${i > 0 ? " and " : ""}<code>${key}</code>`);
		return html`<dt><code>${spec.name}</code></dt>
<dd>${METRIC_TEXT[spec.name]?.description ?? ""}${detail} Labelled with ${labels}.</dd>`;
	});
}

function attributeEntry(rule: AttributeRule, text: Readonly<Record<string, Described>>): Html {
	const values = rule.values && rule.values.length > 1 ? html` One of: ${list(rule.values)}.` : "";
	return html`<dt><code>${rule.key}</code></dt>
<dd>${text[rule.key]?.description ?? ""}${values}</dd>`;
}

/** The section, with its own heading; `headingId` is its anchor. */
export function renderCollected(headingId: string): Html {
	const { granularitySeconds, clientMaxSeconds } = CONTRACT.period;
	const hours = granularitySeconds === 3600 ? "whole UTC hours" : `steps of ${granularitySeconds} seconds`;
	return html`<section class="prose" aria-labelledby="${headingId}">
<h2 id="${headingId}">What is collected</h2>
<p>Only from installations whose users opted in. A report covers a period of ${hours} (at most ${clientMaxSeconds / 86_400} days) and holds nothing but these counts and facts, checked by this server against the published data contract:</p>
<h3>Counts of sessions</h3>
<dl class="contract">${metricEntries()}</dl>
<h3>Labels on the counts</h3>
<dl class="contract">${[...CONTRACT.pointAttributes.values()].map((rule) => attributeEntry(rule, POINT_TEXT))}</dl>
<h3>Facts about the installation</h3>
<dl class="contract">${[...CONTRACT.resourceAttributes.values()].map((rule) => attributeEntry(rule, RESOURCE_TEXT))}</dl>
<p>Nothing else: no words or audio, no file, project or host names, no URLs, no exact times, no IP address.</p>
</section>`;
}
