"""A small Mapbox vector tile (MVT 2.1) reader for the tests: layers of point features with properties.

Written out (about sixty lines of protobuf) rather than pulling in a decoder package for what the tests
read: layer names, extents, point positions and scalar properties.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Feature:
    properties: dict[str, Any]
    points: list[tuple[int, int]] = field(default_factory=list)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes):
    """(field number, wire type, value) of one message; length-delimited values as bytes."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"wire type {wire}")
        yield number, wire, value


def _packed(data: bytes) -> list[int]:
    values, pos = [], 0
    while pos < len(data):
        value, pos = _varint(data, pos)
        values.append(value)
    return values


def _zigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def _value(data: bytes) -> Any:
    for number, _, value in _fields(data):
        if number == 1:
            return value.decode()
        if number == 2:
            return struct.unpack("<f", value)[0]
        if number == 3:
            return struct.unpack("<d", value)[0]
        if number in (4, 5):
            return value if value < 2**63 else value - 2**64
        if number == 6:
            return _zigzag(value)
        if number == 7:
            return bool(value)
    return None


def _points(commands: list[int]) -> list[tuple[int, int]]:
    points, x, y, i = [], 0, 0, 0
    while i < len(commands):
        command, count = commands[i] & 7, commands[i] >> 3
        i += 1
        if command == 7:  # ClosePath carries no parameters
            continue
        for _ in range(count):
            x += _zigzag(commands[i])
            y += _zigzag(commands[i + 1])
            i += 2
            points.append((x, y))
    return points


def decode(tile: bytes) -> dict[str, dict[str, Any]]:
    """{layer name: {"extent": int, "features": [Feature]}}."""
    layers: dict[str, dict[str, Any]] = {}
    for number, _, layer_bytes in _fields(tile):
        if number != 3:
            continue
        name, extent, keys, values, raw_features = "", 4096, [], [], []
        for n, _, v in _fields(layer_bytes):
            if n == 1:
                name = v.decode()
            elif n == 2:
                raw_features.append(v)
            elif n == 3:
                keys.append(v.decode())
            elif n == 4:
                values.append(_value(v))
            elif n == 5:
                extent = v
        features = []
        for raw in raw_features:
            tags: list[int] = []
            geometry: list[int] = []
            for n, _, v in _fields(raw):
                if n == 2:
                    tags = _packed(v)
                elif n == 4:
                    geometry = _packed(v)
            properties = {keys[tags[i]]: values[tags[i + 1]] for i in range(0, len(tags), 2)}
            features.append(Feature(properties, _points(geometry)))
        layers[name] = {"extent": extent, "features": features}
    return layers
