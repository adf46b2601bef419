"""``forget``: ask the Worker to delete this installation's rows, then delete the ID locally.

The local ID is deleted only after the server confirmed (or when nothing was
ever delivered), so a failure never leaves data on the server with no way
to name it: the ID stays, the reply says so, and ``forget`` can be retried.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field

from voicemode_otel import enrollment, exporter_config, identity, state
from voicemode_otel.paths import Paths


@dataclass(frozen=True)
class ForgetResult:
    """What happened, server side and locally."""

    ok: bool
    server: str
    removed: tuple[str, ...] = ()
    remaining: tuple[str, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        """Sentences for the CLI and MCP replies."""
        lines = [f"Server: {self.server}"]
        lines.extend(f"Deleted {path}." for path in self.removed)
        if self.remaining:
            lines.append("Kept (so you can retry `voicemode-otel forget`): " + ", ".join(self.remaining))
        return "\n".join(lines)


def _delete_on_server(url: str, settings: exporter_config.ExportSettings) -> tuple[bool, str]:
    # One bounded attempt with the same headers, TLS files and error causes as a report.
    from voicemode_otel import http_attempt
    from voicemode_otel.network_errors import printable

    answer = http_attempt.request("DELETE", url, settings)
    if answer.response is None:
        return False, f"could not reach {url} ({answer.cause}); nothing was deleted there"
    status = answer.response.status_code
    if status in (200, 202, 204):
        return True, f"deleted every row of this installation ({status} from {url})"
    reason = printable(answer.response.reason or "", 80)
    return False, f"{url} answered {status} {reason}; nothing was deleted there"


def forget(paths: Paths, environ: Mapping[str, str] | None = None) -> ForgetResult:
    """Delete this installation's data on the server, then the ID, state and local log."""
    env = os.environ if environ is None else environ
    telemetry_id = identity.read(paths)
    if telemetry_id is None:
        return ForgetResult(True, "no anonymous ID exists here, so there is nothing to delete")
    ever_sent = state.load_state(paths).last_delivered_at is not None
    settings = exporter_config.resolve(env)
    url = settings.installation_url(telemetry_id)
    if not ever_sent:
        server_ok, server = True, "nothing was ever delivered from this installation"
    elif url is None:
        server_ok, server = (
            False,
            (
                f"the endpoint ({settings.endpoint or 'none configured'}) is not a VoiceMode Worker; "
                "ask its operator to delete the data for this ID"
            ),
        )
    else:
        server_ok, server = _delete_on_server(url, settings)
    if not server_ok:
        return ForgetResult(False, server, remaining=(f"{paths.telemetry_id} ({telemetry_id})",))
    removed = list(enrollment.withdraw(paths))
    if paths.transparency_dir.exists():
        shutil.rmtree(paths.transparency_dir, ignore_errors=True)
        removed.append(str(paths.transparency_dir))
    return ForgetResult(True, server, tuple(removed))
