"""``VoiceModeResourceDetector``: the installation's resource, only under consent.

Registered as the ``voicemode`` entry point of ``opentelemetry_resource_detector``
so ``OTEL_EXPERIMENTAL_RESOURCE_DETECTORS=voicemode`` adds it to any SDK
setup. Without consent it returns an empty Resource and creates nothing.
Our own reports build their Resource from :func:`installation_attributes`
directly (never ``Resource.create()``, which adds a random
``service.instance.id``, ``OTEL_RESOURCE_ATTRIBUTES`` and host data).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from datetime import datetime, timezone

from opentelemetry.sdk.resources import Resource, ResourceDetector

from voicemode_otel.consent import decision as consent
from voicemode_otel.contract import spec as contract
from voicemode_otel.installation import enrollment, environment
from voicemode_otel.store import Paths


def installation_attributes(
    telemetry_id: str,
    *,
    exec_source: str,
    environ: Mapping[str, str] | None = None,
    version: str | None = None,
) -> dict[str, str]:
    """The resource attributes of a report: the contract's keys, closed values only.

    An attribute whose value cannot be determined is left out (the Worker
    reads a missing one as "unknown"), which also saves its bytes.
    """
    spec = contract.load()
    attributes = {
        "service.name": spec.resource_attributes["service.name"].values[0],
        "voicemode.telemetry.id": telemetry_id,
        "service.version": environment.release_version(version) if version else environment.host_version(),
        "os.type": environment.os_type(),
        "voicemode.install.method": environment.install_method(environ=environ),
        "voicemode.mcp.host": environment.mcp_host(environ),
        "voicemode.exec.source": exec_source,
    }
    return {
        key: value
        for key, value in attributes.items()
        if value is not None and spec.resource_attributes[key].allows(value)
    }


def guess_exec_source() -> str:
    """``mcp`` when stdin is not a terminal (MCP hosts speak over pipes), else ``cli``."""
    try:
        return "cli" if sys.stdin is not None and os.isatty(sys.stdin.fileno()) else "mcp"
    except (OSError, ValueError):
        return "mcp"


class VoiceModeResourceDetector(ResourceDetector):
    """Adds the anonymous installation ID and coarse environment facts, with consent only."""

    def __init__(self, raise_on_error: bool = False, *, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(raise_on_error)
        self._environ = environ

    def detect(self) -> Resource:
        """The installation's resource, or an empty one without consent."""
        env = os.environ if self._environ is None else self._environ
        paths = Paths.from_environ(env)
        if not consent.decide(paths, env, metrics=False).enabled:  # the host's pipeline, not our reports
            return Resource.get_empty()
        enrolled = enrollment.enroll(paths, datetime.now(timezone.utc))
        return Resource(
            installation_attributes(enrolled.telemetry_id, exec_source=guess_exec_source(), environ=env)
        )
