/**
 * Translation of a validated report into the D1 rows that store it (see
 * migrations/0001_init.sql and 0002_rollups.sql). Pure: reports.ts only binds these values.
 *
 * A report's histogram bins and provider counts become "cells": one per non-empty bin
 * or provider, held in the report row's `cells` column as a JSON array of compact
 * tuples (cells.ts) and flattened, with names, by the `report_cells` view. Empty bins
 * are simply absent (nothing is written for them), so one row is written per report
 * however many bins the contract has.
 */
import { CELL_COLUMNS, encodeCells, type Cell, type CellColumn, type CellTuple } from "./cells";
import { CONTRACT } from "../contract";
import { utcDay } from "../ingest/period";
import type { ValidReport } from "../ingest/validate";

/**
 * The installation columns, keyed by the contract resource attribute each holds. A
 * test checks every optional resource attribute of the contract has one.
 */
export const INSTALLATION_COLUMNS: Readonly<Record<string, InstallationColumn>> = {
	"service.version": "service_version",
	"os.type": "os_type",
	"voicemode.install.method": "install_method",
	"voicemode.mcp.host": "mcp_host",
	"voicemode.exec.source": "exec_source",
};
export type InstallationColumn = "service_version" | "os_type" | "install_method" | "mcp_host" | "exec_source";

export interface InstallationRow {
	readonly telemetry_id: string;
	/** The UTC day of this report; the upsert keeps the first day on later reports. */
	readonly seen_day: string;
	readonly facts: Readonly<Record<InstallationColumn, string | null>>;
}

export interface ReportRow {
	readonly telemetry_id: string;
	readonly period_start: number;
	readonly period_end: number;
	readonly received_day: string;
	/** The stored form of reportCells(): compact tuples in canonical order. */
	readonly cells: readonly CellTuple[];
}

export interface ReportRows {
	readonly installation: InstallationRow;
	readonly report: ReportRow;
}

function attributeColumns(attributes: Readonly<Record<string, string>>): Partial<Record<CellColumn, string>> {
	const out: Partial<Record<CellColumn, string>> = {};
	for (const [key, value] of Object.entries(attributes)) {
		const column = CELL_COLUMNS[key];
		if (!column) throw new Error(`no cell column for contract attribute ${key}`);
		out[column] = value;
	}
	return out;
}

/**
 * The non-empty cells of a report, by name, in a canonical order (contract metric
 * order, then attribute values, then bin order).
 */
export function reportCells(report: ValidReport): Cell[] {
	const cells: Cell[] = [];
	for (const h of report.histograms) {
		h.bucketCounts.forEach((sessions, i) => {
			if (sessions > 0) cells.push({ metric: h.metric.name, ...attributeColumns(h.attributes), bin: h.metric.bins[i] ?? "", sessions });
		});
	}
	for (const c of report.counters) {
		if (c.value > 0) cells.push({ metric: c.metric.name, ...attributeColumns(c.attributes), sessions: c.value });
	}
	return cells.sort(compareCells);
}

const METRIC_ORDER = [...CONTRACT.metrics.keys()];

function order(cell: Cell): (number | string)[] {
	const spec = CONTRACT.metrics.get(cell.metric);
	const bin = spec?.instrument === "histogram" && cell.bin !== undefined ? spec.bins.indexOf(cell.bin) : -1;
	return [METRIC_ORDER.indexOf(cell.metric), cell.transport ?? "", cell.role ?? "", cell.provider ?? "", bin];
}

function compareCells(a: Cell, b: Cell): number {
	const x = order(a);
	const y = order(b);
	for (let i = 0; i < x.length; i++) {
		const [u, v] = [x[i] ?? "", y[i] ?? ""];
		if (u < v) return -1;
		if (u > v) return 1;
	}
	return 0;
}

/** The rows an accepted report writes, received at `nowMs`. */
export function toRows(report: ValidReport, nowMs: number): ReportRows {
	const facts = Object.fromEntries(
		Object.values(INSTALLATION_COLUMNS).map((column) => [column, null]),
	) as Record<InstallationColumn, string | null>;
	for (const [key, value] of Object.entries(report.environment)) {
		const column = INSTALLATION_COLUMNS[key];
		if (!column) throw new Error(`no installation column for contract attribute ${key}`);
		facts[column] = value;
	}
	const day = utcDay(nowMs);
	return {
		installation: { telemetry_id: report.telemetryId, seen_day: day, facts },
		report: {
			telemetry_id: report.telemetryId,
			period_start: report.period.start,
			period_end: report.period.end,
			received_day: day,
			cells: encodeCells(reportCells(report)),
		},
	};
}
