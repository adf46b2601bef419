"""docs/operations.md, checked as far as it can be without a Cloudflare account.

The deployment config ``scripts/deploy-config.sh`` writes (database ID, custom domain)
and the documented Workers Logs block pass ``wrangler deploy --dry-run`` without a
configuration warning; the tracked ``wrangler.jsonc`` has no database ID and the
generated files are gitignored; every wrangler flag the runbook uses exists in the
pinned wrangler; and the runbook's facts — the client's endpoint constant, the log line
kinds, the health thresholds — are the code's.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from localworker import ROOT, WORKER, node_environment

from voicemode_otel.export import config as exporter_config

pytestmark = [pytest.mark.timeout(300)]

DOC = ROOT / "docs" / "operations.md"
DATABASE_ID = "0f1e2d3c-4b5a-4968-8776-655443322110"


def wrangler(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["wrangler", *args],
        cwd=WORKER,
        env=node_environment(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if check:
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


def deploy_config(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(WORKER / "scripts" / "deploy-config.sh")],
        cwd=WORKER,
        env={**node_environment(), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def config_name() -> Iterator[str]:
    """A throwaway wrangler.deploy*.jsonc beside wrangler.jsonc, removed afterwards."""
    name = f"wrangler.deploy.test-{uuid.uuid4().hex[:8]}.jsonc"
    yield name
    (WORKER / name).unlink(missing_ok=True)


def dry_run(config: str, tmp_path: Path) -> str:
    done = wrangler("deploy", "--dry-run", "--config", config, "--outdir", str(tmp_path / "out"))
    return done.stdout + done.stderr


def test_tracked_config_holds_no_database_id_and_generated_ones_are_ignored(config_name: str) -> None:
    """wrangler.jsonc never has a database_id; wrangler.deploy*.jsonc are gitignored."""
    assert "database_id" not in (WORKER / "wrangler.jsonc").read_text(encoding="utf-8")
    for name in ("wrangler.deploy.jsonc", config_name):
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", f"worker-otlp-ingest/{name}"], cwd=ROOT, check=False
        )
        assert ignored.returncode == 0, name


def test_deploy_config_with_a_custom_domain_passes_a_dry_run(config_name: str, tmp_path: Path) -> None:
    """The database ID and the Custom Domain route go into the generated config, which wrangler accepts."""
    done = deploy_config(
        D1_DATABASE_ID=DATABASE_ID, CUSTOM_DOMAIN="telemetry.example.org", DEPLOY_CONFIG=config_name
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == config_name
    text = (WORKER / config_name).read_text(encoding="utf-8")
    assert f'"database_id": "{DATABASE_ID}"' in text
    assert '"routes": [{ "pattern": "telemetry.example.org", "custom_domain": true }]' in text
    output = dry_run(config_name, tmp_path)
    assert "WARNING" not in output and "Unexpected fields" not in output, output
    assert "env.DB (voicemode-otel)" in output


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "set D1_DATABASE_ID"),
        ({"D1_DATABASE_ID": "not-a-uuid"}, "D1_DATABASE_ID must be a database UUID"),
        ({"D1_DATABASE_ID": DATABASE_ID, "CUSTOM_DOMAIN": "https://x.example.org/"}, "CUSTOM_DOMAIN must be"),
        ({"D1_DATABASE_ID": DATABASE_ID, "DEPLOY_CONFIG": "wrangler.jsonc"}, "DEPLOY_CONFIG must be"),
    ],
)
def test_deploy_config_refuses_bad_input(env: dict[str, str], message: str) -> None:
    """A missing or malformed ID, a URL for a domain, or a tracked file name: refused, nothing written."""
    done = deploy_config(**env)
    assert done.returncode != 0
    assert message in done.stderr


def test_the_documented_workers_logs_block_is_valid_config(config_name: str, tmp_path: Path) -> None:
    """The observability block of docs/operations.md (own lines only, no invocation logs) passes a dry run."""
    block = re.search(r'^"observability": \{.*\},$', DOC.read_text(encoding="utf-8"), re.M)
    assert block, "no observability block in docs/operations.md"
    assert '"invocation_logs": false' in block.group(0)
    config = (WORKER / "wrangler.jsonc").read_text(encoding="utf-8")
    assert '"observability": { "enabled": false },' in config, (
        "Workers Logs must stay off in the tracked config"
    )
    (WORKER / config_name).write_text(
        config.replace('"observability": { "enabled": false },', block.group(0))
    )
    output = dry_run(config_name, tmp_path)
    assert "WARNING" not in output and "Unexpected fields" not in output, output


@pytest.mark.parametrize(
    ("command", "flags"),
    [
        (("d1", "create"), ("--update-config", "--binding")),
        (("d1", "time-travel", "info"), ("--timestamp",)),
        (("d1", "time-travel", "restore"), ("--bookmark", "--timestamp")),
        (("secret", "put"), ("--config",)),
        (("tail",), ("--format", "--status", "--search")),
        (("deploy",), ("--dry-run",)),
    ],
)
def test_every_flag_the_runbook_uses_exists(command: tuple[str, ...], flags: tuple[str, ...]) -> None:
    """`wrangler <command> --help` of the pinned wrangler lists each flag docs/operations.md uses."""
    help_text = wrangler(*command, "--help").stdout
    doc = DOC.read_text(encoding="utf-8")
    for flag in flags:
        assert flag in help_text, (command, flag)
        assert flag in doc, (command, flag)


def test_the_client_endpoint_constant_is_the_one_named() -> None:
    """PRODUCTION_ENDPOINT exists, and the runbook's URL ends in the client's metrics path."""
    doc = DOC.read_text(encoding="utf-8")
    assert "**`PRODUCTION_ENDPOINT`** in `voicemode_otel/export/config.py`" in doc
    assert isinstance(exporter_config.PRODUCTION_ENDPOINT, str)
    assert f"`https://telemetry.example.org{exporter_config.METRICS_PATH}`" in doc


def test_the_log_table_lists_exactly_what_the_worker_logs() -> None:
    """Each console call's first word in src/ is a row of the table, and each row is logged somewhere."""
    logged = set()
    for source in (WORKER / "src").rglob("*.ts"):
        logged |= set(re.findall(r'console\.\w+\("([^"]+)"', source.read_text(encoding="utf-8")))
    rows = set(re.findall(r"^\| `([^`{<]+?)(?: \{|`| <)", DOC.read_text(encoding="utf-8"), re.M))
    assert {row.strip() for row in rows} == logged


def test_health_thresholds_are_the_code_s() -> None:
    """The alerting table's thresholds are src/routes/health.ts's constants."""
    source = (WORKER / "src" / "routes" / "health.ts").read_text(encoding="utf-8")
    doc = DOC.read_text(encoding="utf-8")

    def hours(name: str) -> float:
        found = re.search(rf"export const {name} = ([\d_ *]+);", source)
        assert found, name
        return float(eval(found.group(1).replace("_", ""))) / 3600  # noqa: S307 - a constant expression of digits and *

    assert f"| {hours('ROLLUP_STALE_SECONDS'):g} hours (two runs missed) |" in doc
    assert f"| {hours('DAILY_STALE_SECONDS'):g} hours |" in doc
    assert f"| {hours('AS_OF_STALE_SECONDS'):g} hours |" in doc
    assert "`STEP_REPORTS \u00d7 MAX_STEPS` = 48,000" in doc


def test_the_worker_readme_links_the_runbook() -> None:
    """The Worker README points to docs/operations.md."""
    assert "(../docs/operations.md)" in (WORKER / "README.md").read_text(encoding="utf-8")
