#!/usr/bin/env python3
"""Regenerate ``src/gen/`` from the descriptors embedded in the opentelemetry-proto wheel.

Why this way: the wheel ships no ``.proto`` files, but every ``*_pb2`` module embeds its
serialized ``FileDescriptorProto``. Collecting them (dependencies first) into a
``FileDescriptorSet`` gives ``buf generate`` exactly the schema the Python exporter
encodes with, so the Worker and the client cannot drift. The ``_pb2`` copies omit
``json_name``; we fill it with protoc's lowerCamelCase rule so the OTLP/JSON mapping
(``resourceMetrics``, ``timeUnixNano`` ...) works.

``google.rpc.Status`` (the body of an OTLP/HTTP 400) is not in the wheel: its three
fields are written here by hand, with ``details`` typed ``google.protobuf.Any`` as in
googleapis (protoc-gen-es maps that to ``@bufbuild/protobuf/wkt``, so nothing extra is
generated).

Run through ``scripts/gen-proto.sh`` (``npm run gen:proto``), which puts Node 22, buf
and protoc-gen-es on PATH. Commit the output: the build never needs buf.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tempfile
from pathlib import Path

from google.protobuf import any_pb2, descriptor_pb2
from google.protobuf.descriptor import FileDescriptor
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

PINNED_VERSION = "1.45.2"
WORKER_DIR = Path(__file__).resolve().parent.parent
STATUS_PROTO = "google/rpc/status.proto"


def json_name(field_name: str) -> str:
    """The JSON name protoc gives a field (ToJsonName): drop each underscore, upper-case the next letter."""
    out: list[str] = []
    upper_next = False
    for ch in field_name:
        if ch == "_":
            upper_next = True
        elif upper_next:
            out.append(ch.upper())
            upper_next = False
        else:
            out.append(ch)
    return "".join(out)


def fill_json_names(messages: list[descriptor_pb2.DescriptorProto]) -> None:
    for message in messages:
        for field in message.field:
            field.json_name = json_name(field.name)
        fill_json_names(list(message.nested_type))


def with_dependencies(fd: FileDescriptor, seen: dict[str, descriptor_pb2.FileDescriptorProto]) -> None:
    """Add ``fd`` after all of its dependencies (a FileDescriptorSet is topologically ordered)."""
    for dep in fd.dependencies:
        with_dependencies(dep, seen)
    if fd.name not in seen:
        proto = descriptor_pb2.FileDescriptorProto.FromString(fd.serialized_pb)
        fill_json_names(list(proto.message_type))
        seen[fd.name] = proto


def status_proto() -> descriptor_pb2.FileDescriptorProto:
    """google/rpc/status.proto, field for field as googleapis defines it."""
    f = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name=STATUS_PROTO,
        package="google.rpc",
        dependency=["google/protobuf/any.proto"],
        syntax="proto3",
    )
    msg = proto.message_type.add(name="Status")
    msg.field.add(name="code", number=1, label=f.LABEL_OPTIONAL, type=f.TYPE_INT32)
    msg.field.add(name="message", number=2, label=f.LABEL_OPTIONAL, type=f.TYPE_STRING)
    msg.field.add(
        name="details",
        number=3,
        label=f.LABEL_REPEATED,
        type=f.TYPE_MESSAGE,
        type_name=".google.protobuf.Any",
    )
    fill_json_names(list(proto.message_type))
    return proto


def build_set() -> descriptor_pb2.FileDescriptorSet:
    files: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    with_dependencies(any_pb2.DESCRIPTOR, files)
    files[STATUS_PROTO] = status_proto()
    with_dependencies(metrics_service_pb2.DESCRIPTOR, files)
    return descriptor_pb2.FileDescriptorSet(file=list(files.values()))


def main() -> int:
    version = importlib.metadata.version("opentelemetry-proto")
    if version != PINNED_VERSION:
        print(f"opentelemetry-proto {version} installed, {PINNED_VERSION} pinned", file=sys.stderr)
        return 1
    fds = build_set()
    targets = [f.name for f in fds.file if not f.name.startswith("google/protobuf/")]
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "otlp.binpb"
        image.write_bytes(fds.SerializeToString())
        cmd = ["buf", "generate", str(image), "--template", "buf.gen.yaml"]
        for target in targets:
            cmd += ["--path", target]
        subprocess.run(cmd, cwd=WORKER_DIR, check=True)
    print(f"generated {len(targets)} files from opentelemetry-proto {version} into src/gen/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
