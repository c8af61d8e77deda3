#!/usr/bin/env python3
"""Folds a one-shard fedvlm dataset into one HDF5 file: a seed of tests/fuzz/fuzz_dataset.

The harness places its input both as meta.h5 and as shard-00000.h5, so the seed holds meta.h5's
attributes and groups beside the shard's /train. The tokenizer model loses its normalization
table (precompiled_charsmap: some 240 KB of NFKC rules in a 250 KB model). The token ids stay
valid, and the fuzzer's mutations then land on the dataset rather than on that table.

  --layout copy        every dataset as fedvlm wrote it (chunked, shuffle + deflate, extendible)
  --layout contiguous  every dataset contiguous and unfiltered (h5py's default layout)
  --fixed-strings      string attributes as fixed-length, space-padded bytes (the lenient read path)

usage: one_file_dataset.py DATASET_DIR OUT_FILE [--layout copy|contiguous] [--fixed-strings]
"""
import argparse
import glob
import os
import sys

import h5py
import numpy as np


def read_varint(buffer, at):
    value, shift = 0, 0
    while True:
        byte = buffer[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def protobuf_fields(buffer):
    """(field number, wire type, the field's bytes whole, its payload) of one message."""
    at = 0
    while at < len(buffer):
        start = at
        key, at = read_varint(buffer, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, at = read_varint(buffer, at)
            payload = None
        elif wire == 1:
            at += 8
            payload = None
        elif wire == 5:
            at += 4
            payload = None
        elif wire == 2:
            length, at = read_varint(buffer, at)
            payload = buffer[at:at + length]
            at += length
        else:
            sys.exit(f"unexpected protobuf wire type {wire} in the tokenizer model")
        yield number, wire, buffer[start:at], payload


def without_charsmap(model):
    """The SentencePiece ModelProto with normalizer_spec (field 3) renamed "identity" and its
    precompiled_charsmap (field 2) dropped."""
    out = bytearray()
    for number, wire, whole, payload in protobuf_fields(model):
        if number != 3 or wire != 2:
            out += whole
            continue
        spec = bytearray()
        for inner, inner_wire, inner_whole, _ in protobuf_fields(payload):
            if inner == 2:
                continue
            if inner == 1:
                inner_whole = varint(1 << 3 | 2) + varint(len(b"identity")) + b"identity"
            spec += inner_whole
        out += varint(3 << 3 | 2) + varint(len(spec)) + spec
    return bytes(out)


def copy_attributes(source, target, fixed_strings):
    for name, value in source.attrs.items():
        if fixed_strings and isinstance(value, str):
            value = np.bytes_(value.encode() + b"  ")
        elif fixed_strings and isinstance(value, np.ndarray) and value.dtype == object:
            value = np.array([v.encode() for v in value], dtype="S")
        target.attrs[name] = value


def copy_group(source, target, layout, fixed_strings):
    copy_attributes(source, target, fixed_strings)
    for name, item in source.items():
        if isinstance(item, h5py.Group):
            copy_group(item, target.create_group(name), layout, fixed_strings)
        elif layout == "copy":
            source.copy(item, target, name)
        else:
            target.create_dataset(name, data=item[()])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("out")
    parser.add_argument("--layout", choices=["copy", "contiguous"], default="copy")
    parser.add_argument("--fixed-strings", action="store_true")
    args = parser.parse_args()
    shards = sorted(glob.glob(os.path.join(args.dataset, "shard-*.h5")))
    if [os.path.basename(s) for s in shards] != ["shard-00000.h5"]:
        sys.exit(f"{args.dataset}: expected one shard, shard-00000.h5; found {shards}")
    with h5py.File(os.path.join(args.dataset, "meta.h5"), "r") as meta, \
            h5py.File(shards[0], "r") as shard, h5py.File(args.out, "w") as out:
        copy_attributes(meta, out, args.fixed_strings)
        for name in meta:
            if name != "tokenizer":
                copy_group(meta[name], out.create_group(name), args.layout, args.fixed_strings)
        model = without_charsmap(meta["tokenizer/model"][()].tobytes())
        out.create_group("tokenizer").create_dataset("model", data=np.frombuffer(model, dtype=np.uint8))
        copy_group(shard["train"], out.create_group("train"), args.layout, args.fixed_strings)


if __name__ == "__main__":
    main()
