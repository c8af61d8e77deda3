#!/usr/bin/env python3
"""Writes a small, complete, valid fedvlm dataset with h5py and numpy only.

This is the example of docs/data-format.md; tests/data/h5py_interop_test.cpp runs it and
checks the result with the C++ validator and reader.

usage: write_with_h5py.py OUT_DIR TOKENIZER_MODEL_FILE
"""
import os
import sys

import h5py
import numpy as np

C, H, W = 1, 4, 4                 # image_shape: channels, height, width
TASKS = ["cls", "vqa"]            # the stored task byte indexes this list
CLASSES = ["cat", "dog"]          # labels index this list; -1 = no label
NAN_BOX = [np.nan] * 4


def sample(pixel, task, prompt, answer, label, box=NAN_BOX):
    """One sample; token ids are the tokenizer's pieces (not its <pad>, <bos>, <eos>)."""
    return dict(image=np.full((C, H, W), pixel, dtype=np.uint8), task=TASKS.index(task),
                prompt=prompt, answer=answer, label=label, box=box)


def write_split(group, samples):
    """The eight datasets every split group holds (N may be 0)."""
    n = len(samples)
    packed = {"compression": "gzip", "compression_opts": 4, "shuffle": True} if n else {}
    images = np.stack([s["image"] for s in samples]) if n else np.zeros((0, C, H, W), np.uint8)
    group.create_dataset("images", data=images, dtype=np.uint8,
                         chunks=(min(n, 64), C, H, W) if n else None, **packed)
    group.create_dataset("task", data=np.array([s["task"] for s in samples], dtype=np.uint8))
    for name in ("prompt", "answer"):
        lists = [s[name] for s in samples]
        tokens = np.array([t for ids in lists for t in ids], dtype=np.int32)
        ptr = np.zeros(n + 1, dtype=np.int64)
        ptr[1:] = np.cumsum([len(ids) for ids in lists])
        group.create_dataset(name, data=tokens)
        group.create_dataset(name + "_ptr", data=ptr)
    group.create_dataset("label", data=np.array([s["label"] for s in samples], dtype=np.int32))
    group.create_dataset("box", data=np.array([s["box"] for s in samples], dtype=np.float32).reshape(n, 4))


def main(out_dir, tokenizer_file):
    # Train samples per client; clients 0-1 go to shard 0, client 2 to shard 1.
    clients = [
        [sample(10, "cls", [4, 5], [6], 1),
         sample(11, "vqa", [7], [8, 9, 10], -1, box=[0.25, 0.5, 0.75, 1.0])],
        [],                                           # a client may have no samples
        [sample(20, "cls", [], [5], 0)],
    ]
    shard_of_client = [0, 0, 1]
    public = [sample(1, "cls", [4], [5], 0), sample(2, "vqa", [6, 7], [8], -1)]
    test = []                                         # an empty split is valid

    os.makedirs(out_dir)
    with h5py.File(os.path.join(out_dir, "meta.h5"), "w") as f:
        f.attrs["format"] = "fedvlm"
        f.attrs["version"] = np.int64(1)
        f.attrs["name"] = "h5py-example"
        f.attrs["tasks"] = TASKS                      # h5py stores a list of str as variable-length UTF-8
        f.attrs["class_names"] = CLASSES
        f.attrs["num_clients"] = np.int64(len(clients))
        f.attrs["image_shape"] = np.array([C, H, W], dtype=np.int64)
        partition = f.create_group("partition")
        partition.attrs["partition"] = "manual"
        partition.attrs["seed"] = "0"
        with open(tokenizer_file, "rb") as model:
            f.create_dataset("tokenizer/model", data=np.frombuffer(model.read(), dtype=np.uint8))
        f.create_dataset("clients/shard", data=np.array(shard_of_client, dtype=np.int32))
        f.create_dataset("clients/num_samples", data=np.array([len(c) for c in clients], dtype=np.int64))
        write_split(f.create_group("public"), public)
        write_split(f.create_group("test"), test)

    for shard in sorted(set(shard_of_client)):
        ids = [k for k, s in enumerate(shard_of_client) if s == shard]   # increasing client ids
        with h5py.File(os.path.join(out_dir, "shard-%05d.h5" % shard), "w") as f:
            train = f.create_group("train")
            write_split(train, [x for k in ids for x in clients[k]])       # sorted by client
            ptr = np.zeros(len(ids) + 1, dtype=np.int64)
            ptr[1:] = np.cumsum([len(clients[k]) for k in ids])
            train.create_dataset("client_ptr", data=ptr)
            train.create_dataset("client_id", data=np.array(ids, dtype=np.int64))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
