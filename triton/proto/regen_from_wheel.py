#!/usr/bin/env python3
"""Write grpc_service.proto and model_config.proto from the tritonclient wheel.

The tritonclient wheel on PyPI ships only the generated Python modules
(tritonclient/grpc/service_pb2.py, model_config_pb2.py), not the .proto text.
Those modules embed the serialized FileDescriptorProto of each file, which
holds every message, field number, enum and RPC; only comments are lost.
This script prints them back as .proto source, puts the upstream licence
header on top (the BSD-3-Clause NVIDIA licence the wheel ships in its
dist-info, the licence of triton-inference-server/common's protobuf/),
then checks the round trip: the written files, compiled again with
protoc (Debian's protobuf-compiler, or grpcio-tools), must give descriptors equal to the wheel's.

    apt-get install protobuf-compiler   # protoc, only for the check
    /work/venv-triton/bin/python triton/proto/regen_from_wheel.py
"""

from __future__ import annotations

import pathlib
import sys

from google.protobuf import descriptor_pb2

HERE = pathlib.Path(__file__).resolve().parent

def wheel_license() -> str:
    """The licence text the tritonclient wheel ships (dist-info/licenses/LICENSE.txt), as // comments."""
    import importlib.metadata as md

    files = [f for f in (md.files("tritonclient") or []) if f.name.upper().startswith("LICENSE")]
    if not files:
        raise SystemExit("no LICENSE file in the tritonclient wheel's dist-info")
    text = files[0].read_text()
    lines = []
    for line in text.splitlines():
        line = line[1:] if line.startswith("#") else (" " + line if line else "")
        lines.append("//" + line.rstrip())
    return "\n".join(lines) + "\n"

F = descriptor_pb2.FieldDescriptorProto
SCALAR = {
    F.TYPE_DOUBLE: "double",
    F.TYPE_FLOAT: "float",
    F.TYPE_INT64: "int64",
    F.TYPE_UINT64: "uint64",
    F.TYPE_INT32: "int32",
    F.TYPE_FIXED64: "fixed64",
    F.TYPE_FIXED32: "fixed32",
    F.TYPE_BOOL: "bool",
    F.TYPE_STRING: "string",
    F.TYPE_BYTES: "bytes",
    F.TYPE_UINT32: "uint32",
    F.TYPE_SFIXED32: "sfixed32",
    F.TYPE_SFIXED64: "sfixed64",
    F.TYPE_SINT32: "sint32",
    F.TYPE_SINT64: "sint64",
}


def unsupported(what: str) -> None:
    raise SystemExit(f"regen_from_wheel: {what} is not handled by this printer; extend it")


def type_name(f) -> str:
    if f.type in SCALAR:
        return SCALAR[f.type]
    return f.type_name  # fully qualified with a leading dot: valid .proto syntax


def print_enum(e, ind: str, out: list[str]) -> None:
    if e.options.ByteSize() or e.reserved_range or e.reserved_name:
        unsupported(f"enum options/reserved in {e.name}")
    out.append(f"{ind}enum {e.name}\n{ind}{{")
    for v in e.value:
        if v.options.ByteSize():
            unsupported(f"enum value options in {e.name}.{v.name}")
        out.append(f"{ind}  {v.name} = {v.number};")
    out.append(f"{ind}}}")


def field_line(f, maps: dict, ind: str) -> str:
    if f.options.ByteSize() or f.HasField("default_value") or f.proto3_optional or f.HasField("json_name") and f.json_name != _camel(f.name):
        unsupported(f"field options in {f.name}")
    if f.label == F.LABEL_REPEATED and f.type_name in maps:
        k, v = maps[f.type_name]
        return f"{ind}map<{type_name(k)}, {type_name(v)}> {f.name} = {f.number};"
    label = "repeated " if f.label == F.LABEL_REPEATED else ""
    return f"{ind}{label}{type_name(f)} {f.name} = {f.number};"


def _camel(name: str) -> str:
    parts = name.split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def print_message(m, scope: str, ind: str, out: list[str]) -> None:
    if m.options.ByteSize() or m.extension or m.extension_range or m.reserved_range or m.reserved_name:
        unsupported(f"message options/extensions/reserved in {m.name}")
    full = f"{scope}.{m.name}"
    maps = {}
    for n in m.nested_type:
        if n.options.map_entry:
            maps[f"{full}.{n.name}"] = (n.field[0], n.field[1])
    out.append(f"{ind}message {m.name}\n{ind}{{")
    body_ind = ind + "  "
    for e in m.enum_type:
        print_enum(e, body_ind, out)
    for n in m.nested_type:
        if not n.options.map_entry:
            print_message(n, full, body_ind, out)
    done_oneofs = set()
    for f in m.field:
        if f.HasField("oneof_index"):
            oi = f.oneof_index
            if oi in done_oneofs:
                continue
            done_oneofs.add(oi)
            out.append(f"{body_ind}oneof {m.oneof_decl[oi].name}\n{body_ind}{{")
            for g in m.field:
                if g.HasField("oneof_index") and g.oneof_index == oi:
                    out.append(field_line(g, maps, body_ind + "  "))
            out.append(f"{body_ind}}}")
        else:
            out.append(field_line(f, maps, body_ind))
    out.append(f"{ind}}}")


def to_proto_text(p: descriptor_pb2.FileDescriptorProto, version_note: str) -> str:
    if p.options.ByteSize() or p.extension:
        unsupported("file options/extensions")
    out = [wheel_license()]
    out.append(f"// Regenerated from the descriptor in {version_note}")
    out.append("// by triton/proto/regen_from_wheel.py: upstream comments are not kept.")
    out.append("")
    out.append(f'syntax = "{p.syntax or "proto2"}";')
    out.append("")
    out.append(f"package {p.package};")
    out.append("")
    for d in p.dependency:
        out.append(f'import "{d}";')
    if p.dependency:
        out.append("")
    for e in p.enum_type:
        print_enum(e, "", out)
        out.append("")
    for m in p.message_type:
        print_message(m, f".{p.package}", "", out)
        out.append("")
    for s in p.service:
        out.append(f"service {s.name}\n{{")
        for mt in s.method:
            if mt.options.ByteSize():
                unsupported(f"method options in {mt.name}")
            ci = "stream " if mt.client_streaming else ""
            so = "stream " if mt.server_streaming else ""
            out.append(f"  rpc {mt.name}({ci}{mt.input_type}) returns ({so}{mt.output_type}) {{}}")
        out.append("}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _clear_json_names(messages) -> None:
    for m in messages:
        for f in m.field:
            f.ClearField("json_name")
        _clear_json_names(m.nested_type)


def main() -> int:
    import importlib.metadata as md

    from tritonclient.grpc import model_config_pb2, service_pb2

    version = md.version("tritonclient")
    note = f"tritonclient {version} (PyPI wheel, tritonclient/grpc/*_pb2.py)"
    originals = {}
    for mod in (model_config_pb2, service_pb2):
        p = descriptor_pb2.FileDescriptorProto()
        mod.DESCRIPTOR.CopyToProto(p)
        originals[p.name] = p
        (HERE / p.name).write_text(to_proto_text(p, note))
        print(f"wrote {HERE / p.name}")

    import shutil
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as td:
        ds = pathlib.Path(td) / "set.pb"
        files = ["grpc_service.proto", "model_config.proto"]
        if shutil.which("protoc"):  # Debian: apt-get install protobuf-compiler
            rc = subprocess.run(["protoc", f"-I{HERE}", f"--descriptor_set_out={ds}", *files]).returncode
        else:
            try:
                from grpc_tools import protoc
            except ImportError:
                print("no protoc on PATH and no grpcio-tools: round-trip check skipped")
                return 0
            rc = protoc.main(["protoc", f"-I{HERE}", f"--descriptor_set_out={ds}", *files])
        if rc != 0:
            print("protoc failed on the written files")
            return 1
        fds = descriptor_pb2.FileDescriptorSet.FromString(ds.read_bytes())
    ok = True
    for p in fds.file:
        # protoc always fills json_name in a descriptor set; the embedded
        # descriptors leave it out.  Compare without it.
        _clear_json_names(p.message_type)
        same = p == originals[p.name]
        ok &= same
        print(f"round trip {p.name}: {'identical descriptor' if same else 'DIFFERS'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
