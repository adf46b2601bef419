/**
 * The Worker's own source files as text (bundled by Vite's import.meta.glob, since a
 * workerd test reads no file system), with what each imports: for the tests that hold
 * the layers of src/ and its map in README.md to the code. Paths are relative to src/;
 * an import leaving src/ keeps its "../" form.
 */
const raw = import.meta.glob("../../src/**/*.ts", { query: "?raw", import: "default", eager: true });
const PREFIX = "../../src/";

const TEXT = new Map(Object.entries(raw).map(([key, text]) => [key.slice(PREFIX.length), text]));

/** Every .ts file of src/, relative to src/ (gen/ and worker-configuration.d.ts included). */
export function sourceFiles(): string[] {
	return [...TEXT.keys()].sort();
}

/** `path` with its "." and ".." segments resolved; leading ".." kept where it leaves src/. */
function normalize(path: string): string {
	const out: string[] = [];
	for (const part of path.split("/")) {
		if (part === "" || part === ".") continue;
		if (part === ".." && out.length > 0 && out[out.length - 1] !== "..") out.pop();
		else out.push(part);
	}
	return out.join("/");
}

/** The file a relative specifier names: a source file when one matches, else the path itself. */
function resolve(from: string, specifier: string): string {
	const dir = from.includes("/") ? from.slice(0, from.lastIndexOf("/") + 1) : "";
	const path = normalize(dir + specifier);
	return [path, `${path}.ts`, `${path}.d.ts`, `${path}/index.ts`].find((candidate) => TEXT.has(candidate)) ?? path;
}

/** What `file` imports by relative path (static, dynamic and `import type`), resolved. */
export function importsOf(file: string): string[] {
	const text = TEXT.get(file) ?? "";
	const specifiers = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)["'](\.{1,2}\/[^"'?]+)/gm)].map((m) => m[1] ?? "");
	return specifiers.map((specifier) => resolve(file, specifier));
}

/**
 * The top-level entry of src/ a path belongs to: "db/" for "db/reports.ts",
 * "contract.ts" for itself. contract.json (outside src/) counts as contract.ts, whose
 * typed view of it it is; any other path outside src/ is its own entry.
 */
export function entryOf(path: string): string {
	if (path.startsWith("../")) return path.endsWith("/voicemode_otel/contract.json") ? "contract.ts" : path;
	return path.includes("/") ? `${path.slice(0, path.indexOf("/"))}/` : path;
}
