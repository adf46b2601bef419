"""Fuzzing the files a user (or anything else) can put in the base directory (issue 13, "Also").

``voicemode.env`` as arbitrary bytes, ``state.json``, ``pending.json`` and
``erasure.json`` as arbitrary bytes and arbitrary JSON: the public entry
points never raise, a rewrite keeps every other byte, and a damaged state is
recovered rather than fatal.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import voicemode_otel as rules
from voicemode_otel.consent import decision as consent
from voicemode_otel.delivery import erasure
from voicemode_otel.operations import status as overview
from voicemode_otel.store import Paths, envfile, state

KEY = "VOICEMODE_TELEMETRY"
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

env_lines = st.one_of(
    st.binary(max_size=60),
    st.sampled_from(
        [
            b"VOICEMODE_TELEMETRY=true",
            b"export VOICEMODE_TELEMETRY='false' # x",
            b"  VOICEMODE_TELEMETRY = on",
            b"# caf\xe9",
            b'VOICEMODE_TELEMETRY="ask',
            b"export",
            b"=",
            b"\xff\xfe\x00",
            b" \t# VOICEMODE_TELEMETRY=on",
            b"\x1c#VOICEMODE_TELEMETRY=1",
            b"\xc2\xa0# VOICEMODE_TELEMETRY=yes",
            b"\xe9VOICEMODE_TELEMETRY=local",
            b"VOICEMODE_TELEMETRY=off # VOICEMODE_TELEMETRY=on",
        ]
    ),
)
env_files = st.lists(st.tuples(env_lines, st.sampled_from([b"\n", b"\r\n", b"\r", b""])), max_size=8).map(
    lambda parts: b"".join(line + end for line, end in parts)
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=6)
    ),
    max_leaves=20,
)
state_like = st.fixed_dictionaries(
    {},
    optional={
        "opted_in_at": st.one_of(st.text(max_size=30), st.just("2026-11-20T09:00:00Z"), st.integers()),
        "acked_until": st.one_of(st.text(max_size=30), st.just("2026-11-21T09:00:00Z"), st.none()),
        "failures": json_values,
        "delivered_to": json_values,
        "last_outcome": json_values,
        "requests": json_values,
        "period_start": st.just("2026-11-20T09:00:00Z"),
        "period_end": st.text(max_size=25),
        "body_protobuf_base64": st.text(max_size=20),
        "session_count": json_values,
        "created_at": st.just("2026-11-20T09:00:00Z"),
    },
)


@FUZZ
@given(data=env_files)
def test_any_env_file_bytes_decide_without_raising(tmp_path: Path, data: bytes) -> None:
    """Whatever voicemode.env holds, the decision is made (and is one of the known states)."""
    base = tmp_path / "fuzz"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir()
    (base / "voicemode.env").write_bytes(data)
    rules.env_file_cache.pop(str(base / "voicemode.env"), None)
    decision = consent.decide(Paths(base), {})
    assert decision.state in consent.State


@FUZZ
@given(data=env_files)
def test_the_start_up_lookup_reads_any_bytes_as_the_full_parse_does(data: bytes) -> None:
    """``value_in`` skips comment lines undecoded and decodes lines alone; the answer is the full parse's."""
    assert rules.value_in(data, KEY) == envfile.parse(data.decode("utf-8", "surrogateescape")).get(KEY)


@FUZZ
@given(data=env_files, value=st.sampled_from(["true", "false", "local"]))
def test_rewrite_sets_the_value_and_keeps_every_other_line(data: bytes, value: str) -> None:
    """After a rewrite the file says ``value``; every line that did not assign the key is byte-identical."""
    new = envfile.rewrite(data, KEY, value, "comment")
    assert envfile.parse(new.decode("utf-8", "surrogateescape")).get(KEY) == value

    def others(blob: bytes) -> list[str]:
        text = blob.decode("utf-8", "surrogateescape")
        kept = []
        for line in envfile.split_lines(text):
            found = rules.assignment(line.removesuffix("\n").removesuffix("\r"))
            if found is None or found[2] != KEY:
                kept.append(line.removesuffix("\n"))
        return kept

    assert others(new)[: len(others(data))] == others(data)


@FUZZ
@given(data=env_files)
def test_opt_out_always_lands(tmp_path: Path, data: bytes) -> None:
    """set_value(false) on any file content leaves the decision OFF and the file otherwise intact."""
    base = tmp_path / "optout"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir()
    path = base / "voicemode.env"
    path.write_bytes(data)
    envfile.set_value(path, KEY, "false", comment="c")
    assert consent.decide(Paths(base), {}).state is consent.State.OFF


@FUZZ
@given(
    raw=st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        state_like.map(lambda v: json.dumps(v).encode()),
    )
)
def test_state_files_never_raise(tmp_path: Path, raw: bytes) -> None:
    """Garbage in state.json, pending.json or erasure.json: loading, status and erasure never raise."""
    base = tmp_path / "state"
    shutil.rmtree(base, ignore_errors=True)
    paths = Paths(base)
    paths.state_dir.mkdir(parents=True)
    for target in (paths.state_file, paths.pending_file, paths.erasure_file, paths.enrollment_file):
        target.write_bytes(raw)
    loaded = state.load_state(paths)
    if loaded.recovered is None:  # loaded as stored only when the file really is a valid state
        assert state.read_state(paths) == (loaded, None)
    else:
        assert state.read_state(paths)[0] is None
    state.load_pending(paths, discard_corrupt=False)
    erasure.load(paths)
    overview.current(paths, {"VOICEMODE_BASE_DIR": str(base)})
    erasure.attempt(paths, {"VOICEMODE_BASE_DIR": str(base)})
