/**
 * Runs in Node before each vitest project: makes the request bodies of the two
 * independent OTLP implementations and hands them to the tests with `provide`
 * (workerd tests cannot read the file system).
 *
 *  - Python: scripts/make_python_fixtures.py, run with the repository's .venv (or
 *    $PYTHON), i.e. the real voicemode_otel pipeline and the official Python encoder.
 *    If it cannot run, the Python fixture tests fail with its error output.
 *  - JS: the official OpenTelemetry JS SDK + OTLP exporters, exporting once each to a
 *    capture server on 127.0.0.1.
 *
 * Copies land in test/fixtures/generated/ (gitignored) for inspection.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { exportOnce, ExportResultCode, recordWithJsSdk } from "./fixtures/js-exporters";
import type { JsFixture, PythonFixture, PythonFixtures } from "./fixtures/types";

const WORKER_DIR = path.resolve(import.meta.dirname, "..");

export function pythonExecutable(): string {
	return process.env.PYTHON ?? path.join(WORKER_DIR, "..", ".venv", "bin", "python");
}

function makePythonFixtures(outDir: string): PythonFixtures {
	const run = spawnSync(pythonExecutable(), [path.join(WORKER_DIR, "scripts", "make_python_fixtures.py"), outDir], {
		encoding: "utf8",
		timeout: 60_000,
	});
	if (run.status !== 0) {
		return { ok: false, error: `make_python_fixtures.py failed (${run.error?.message ?? `exit ${run.status}`}):\n${run.stderr}` };
	}
	const manifest = JSON.parse(readFileSync(path.join(outDir, "manifest.json"), "utf8")) as Omit<PythonFixture, "body">[];
	return {
		ok: true,
		fixtures: manifest.map((m) => ({ ...m, body: readFileSync(path.join(outDir, m.file)).toString("base64") })),
	};
}

/** Exports once per wire format to a local capture server; returns exactly what was sent. */
async function makeJsFixtures(outDir: string): Promise<JsFixture[]> {
	let last: { headers: Record<string, string>; body: Buffer } | null = null;
	const server = createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on("data", (c: Buffer) => chunks.push(c));
		req.on("end", () => {
			last = { headers: { "content-type": req.headers["content-type"] ?? "", "content-encoding": String(req.headers["content-encoding"] ?? "") }, body: Buffer.concat(chunks) };
			res.writeHead(200, { "Content-Type": req.headers["content-type"] ?? "application/x-protobuf" }).end();
		});
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/metrics`;
	const out: JsFixture[] = [];
	try {
		for (const wire of ["protobuf", "json"] as const) {
			const telemetryId = crypto.randomUUID();
			const result = await exportOnce(wire, url, await recordWithJsSdk(telemetryId));
			const captured = last as { headers: Record<string, string>; body: Buffer } | null;
			if (result.code !== ExportResultCode.SUCCESS || !captured) throw new Error(`JS ${wire} exporter failed: ${String(result.error)}`);
			writeFileSync(path.join(outDir, `js-sdk.${wire === "json" ? "json" : "pb"}`), captured.body);
			out.push({ wire, telemetryId, headers: captured.headers, body: captured.body.toString("base64") });
		}
	} finally {
		server.close();
	}
	return out;
}

export default async function setup(project: TestProject): Promise<void> {
	const generated = path.join(WORKER_DIR, "test", "fixtures", "generated", project.name);
	mkdirSync(path.join(generated, "js"), { recursive: true });
	project.provide("pythonFixtures", makePythonFixtures(path.join(generated, "python")));
	project.provide("jsFixtures", await makeJsFixtures(path.join(generated, "js")));
}
