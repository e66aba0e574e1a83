#!/usr/bin/env python3
"""Golden vectors from kafka-python's own encoder, for SamsaProtocol's tests.

kafka-python 3.x (kafka.protocol) encodes every Kafka request and response from Kafka's message
definitions with its own code. For each message Samsa implements, at each version Samsa supports, this
script fills every field present at that version with a deterministic value, encodes it with
kafka-python, and writes the bytes (hex) together with the values (JSON, keys lower-cased without
underscores) into Tests/SamsaProtocolTests/Golden/KafkaPythonVectors.swift.

The tests decode each vector with SamsaProtocol, compare every field with the JSON, and check that
re-encoding gives the same bytes.

    /tmp/venvtest/bin/python scripts/protocol/kafka_python_vectors.py   # needs kafka-python 3.0.x
"""
import base64
import hashlib
import importlib
import inspect
import json
import os
import pkgutil
import re
import sys
import uuid

import kafka
from kafka.protocol.api_message import ApiMessage

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema")
OUT = os.path.join(ROOT, "Tests", "SamsaProtocolTests", "Golden", "KafkaPythonVectors.swift")


def message_classes():
    found = {}
    for mod in ("producer", "consumer", "metadata", "admin"):
        pkg = importlib.import_module("kafka.protocol." + mod)
        for m in pkgutil.iter_modules(pkg.__path__):
            mm = importlib.import_module(f"kafka.protocol.{mod}.{m.name}")
            for n, c in inspect.getmembers(mm, inspect.isclass):
                if issubclass(c, ApiMessage) and c is not ApiMessage:
                    found[n] = c
    sasl = importlib.import_module("kafka.protocol.sasl")
    for n in ("SaslHandshakeRequest", "SaslHandshakeResponse"):
        found[n] = getattr(sasl, n)
    return found


def our_apis():
    """(name, lo, hi) from our schema headers."""
    out = []
    for name in sorted(os.listdir(SCHEMA)):
        if name.endswith(".schema"):
            head = open(os.path.join(SCHEMA, name)).readline().split()
            lo, _, hi = head[5].partition("-")
            out.append((head[1], int(lo), int(hi or lo)))
    return out


def seed(path):
    return int.from_bytes(hashlib.sha256(path.encode()).digest()[:8], "big")


INT_RANGES = {"int8": 8, "int16": 16, "int32": 32, "int64": 64, "uint16": 16, "uint32": 32}


def value_for(ftype, path, nullable, version):
    if path == "ApiVersionsResponse.ErrorCode":
        return 0  # kafka-python decodes an ApiVersions response with an error as v0, as Kafka's clients do
    s = seed(path + f"@{version}")
    if nullable and s % 5 == 0:
        return None
    if ftype in INT_RANGES:
        bits = INT_RANGES[ftype]
        v = s % (1 << bits)
        if not ftype.startswith("uint") and v >= 1 << (bits - 1):
            v -= 1 << bits
        return v
    if ftype == "bool":
        return bool(s & 1)
    if ftype == "float64":
        return (s % 1000000) / 1000.0
    if ftype == "string":
        return path.split(".")[-1].lower()[: 3 + s % 12] + ("-é" if s % 3 == 0 else "")
    if ftype in ("bytes", "records"):
        return bytes((s >> (i % 56)) & 0xFF for i in range(s % 23))
    if ftype == "uuid":
        return uuid.UUID(int=(s * 0x9E3779B97F4A7C15) % (1 << 128))
    raise SystemExit(f"no value for {ftype}")


def canonical(v):
    if isinstance(v, bool) or v is None or isinstance(v, (int, float, str)):
        return v
    if isinstance(v, (bytes, bytearray, memoryview)):
        return "hex:" + bytes(v).hex()
    if isinstance(v, uuid.UUID):
        return "uuid:" + v.hex
    if isinstance(v, list):
        return [canonical(x) for x in v]
    raise SystemExit(f"cannot canonicalise {type(v)}")


def kafka_name(name, path):
    """Kafka's field name, lower-cased. kafka-python renames Metadata's and DescribeCluster's
    Cluster/TopicAuthorizedOperations to AuthorizedOperations (it decodes them as sets of bits)."""
    key = name.replace("_", "").lower()
    if key == "authorizedoperations":
        if path in ("MetadataResponse", "DescribeClusterResponse"):
            return "clusterauthorizedoperations"
        if path.startswith("MetadataResponse."):
            return "topicauthorizedoperations"
    return key


def build(container_cls, struct, version, path, flexible):
    """Returns (instance, expected dict) with every field present at `version` set."""
    kwargs, expected = {}, {}
    for name, field in struct.fields.items():
        if not field.for_version_q(version):
            continue
        j = field._json
        t = j["type"]
        nullable = field.nullable_for_version_q(version)
        fpath = f"{path}.{j['name']}"
        key = kafka_name(j["name"], path)
        if t.startswith("[]"):
            inner = t[2:]
            if nullable and seed(fpath + f"@{version}") % 5 == 0:
                kwargs[name], expected[key] = None, None
                continue
            n = 1 + seed(fpath + "#n") % 2
            if field.is_struct_array():
                items = [build(field.data_class, field, version, f"{fpath}[{i}]", flexible) for i in range(n)]
                kwargs[name] = [x[0] for x in items]
                expected[key] = [x[1] for x in items]
            else:
                vals = [value_for(inner, f"{fpath}[{i}]", False, version) for i in range(n)]
                kwargs[name], expected[key] = vals, canonical(vals)
        elif field.is_struct():
            inst, exp = build(field.data_class, field, version, fpath, flexible)
            kwargs[name], expected[key] = inst, exp
        elif t == "bitfield":  # kafka-python's view of an int32 of authorized-operation bits: a set of bit numbers
            s = seed(fpath + f"@{version}")
            bits = {s % 31, (s >> 8) % 31}
            kwargs[name], expected[key] = bits, sum(1 << b for b in bits)
        else:
            v = value_for(t, fpath, nullable, version)
            kwargs[name], expected[key] = v, canonical(v)
    return container_cls(**kwargs), expected


def swift_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    classes = message_classes()
    entries = []
    for api, lo, hi in our_apis():
        for kind in ("Request", "Response"):
            cls = classes[api + kind]
            for version in range(lo, hi + 1):
                flexible = cls.flexible_version_q(version)
                msg, expected = build(lambda **kw: cls(version=version, **kw), cls._struct, version, cls.__name__, flexible)
                data = msg.encode(version=version)
                decoded = cls.decode(data, version=version)
                decoded._header = None  # decode() leaves it unset, and encode() reads it
                again = decoded.encode(version=version)
                assert again == data, f"{cls.__name__} v{version}: kafka-python does not round-trip its own bytes"
                entries.append((api + kind, version, data.hex(), json.dumps(expected, sort_keys=True, ensure_ascii=False)))
    lines = [
        "// Generated by scripts/protocol/kafka_python_vectors.py with kafka-python " + kafka.__version__ + ".",
        "// Provenance: kafka.protocol (kafka-python's encoder, written from Kafka's message JSON) encoded each",
        "// message with every field at that version filled deterministically; `fields` lists those values.",
        "// Do not edit.",
        "",
        "struct KafkaPythonVector: Sendable, CustomStringConvertible {",
        "    let message: String",
        "    let version: Int16",
        "    let hex: String",
        "    let fields: String",
        '    var description: String { "\\(message) v\\(version)" }',
        "}",
        "",
        "let kafkaPythonVectors: [KafkaPythonVector] = [",
    ]
    for name, version, hexs, fields in entries:
        lines.append(f"    KafkaPythonVector(message: \"{name}\", version: {version},")
        lines.append(f"        hex: \"{hexs}\",")
        lines.append(f"        fields: {swift_string(fields)}),")
    lines.append("]")
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"{len(entries)} vectors -> {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main()
