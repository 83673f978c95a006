"""An on-disk cache of decoded waveforms: sharded .npy files read memory-mapped, one clip at a time.

Layout under a cache folder (default: the run folder's `cache/`, or `--cache-dir`):

    <cache_dir>/waveforms-<key>/cache.json          the settings the shards were made with
    <cache_dir>/waveforms-<key>/shard-00000.npy     float32 [clips, T(, C)], clips 0..S-1 of the list

<key> is a hash of everything that decides the decoded samples: the file list with each file's
size and modification time, the sample rate, the clip length, the channel count and CACHE_VERSION.
Change any of them and the key changes, so a stale cache is never read (the old folder is left for
the user to delete). A shard is written to a temporary name and renamed, so a killed build leaves
only whole shards, and the next build makes just the missing ones.

Shards are built on first touch: the first epoch decodes (shard by shard, as its clips are asked
for) and later epochs and later runs only read. `build` makes all of them at once (`tinyasc data
cache`). A clip is read through a memory map opened and closed for it, so the pages it touched do
not stay in the process: memory stays at a shard or two whatever the dataset's size.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from tinyasc.errors import DatasetError

CACHE_VERSION = 1
SHARD_BYTES = 16 * 2**20  # a shard holds as many whole clips as fit in this (at least one)
MANIFEST = "cache.json"
TRANSFORM_CLIPS = 8  # clips a features transform gets at once while a shard is built


def cache_key(paths, sample_rate: int, num_samples: int, channels: int) -> str:
    """A hash of the files (name, size, mtime) and the settings that produce the decoded clips."""
    digest = hashlib.sha256(json.dumps([CACHE_VERSION, sample_rate, num_samples, channels]).encode())
    for path in paths:
        stat = os.stat(path)
        digest.update(f"\n{os.path.abspath(path)}\t{stat.st_size}\t{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:20]


class WaveformCache:
    """The shards of one file list at one setting; `read(i)` is clip i of `paths`, decoded.

    With `transform` (a batch of waveforms → model inputs, e.g. log-mel features of example_shape)
    the shards hold its outputs instead, in a `features-<key>` folder whose key also hashes
    `transform_key` (the feature settings): training without waveform augmentation then computes
    features once. `times` (a pipeline.InputTimes) is told how long the transform took."""

    def __init__(self, cache_dir: Path, paths, sample_rate: int, num_samples: int, channels: int,
                 transform=None, transform_key: str = "", example_shape: tuple | None = None):
        self.paths = list(paths)
        self.sample_rate, self.num_samples, self.channels = sample_rate, num_samples, channels
        self.transform, self.times = transform, None
        self.example_shape = tuple(example_shape or ((num_samples,) + ((channels,) if channels > 1 else ())))
        key = cache_key(self.paths, sample_rate, num_samples, channels)
        if transform is not None:
            key = hashlib.sha256(f"{key}\n{transform_key}".encode()).hexdigest()[:20]
        self.folder = Path(cache_dir) / f"{'features' if transform is not None else 'waveforms'}-{key}"
        clip_bytes = 4 * int(np.prod(self.example_shape))
        self.shard_clips = max(1, SHARD_BYTES // clip_bytes)
        self.shard_count = -(-len(self.paths) // self.shard_clips)
        self._locks = [threading.Lock() for _ in range(self.shard_count)]
        self._write_manifest()

    def _write_manifest(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise DatasetError(f"{self.folder}: cannot create the waveform cache ({err}); give a writable --cache-dir") from err
        manifest = self.folder / MANIFEST
        if not manifest.is_file():
            settings = {"version": CACHE_VERSION, "sample_rate": self.sample_rate, "num_samples": self.num_samples,
                        "channels": self.channels, "clips": len(self.paths), "shard_clips": self.shard_clips,
                        "example_shape": list(self.example_shape)}
            tmp = manifest.with_name(f"{MANIFEST}.tmp-{os.getpid()}")
            tmp.write_text(json.dumps(settings, indent=1) + "\n")
            os.replace(tmp, manifest)

    def shard_path(self, shard: int) -> Path:
        return self.folder / f"shard-{shard:05d}.npy"

    def missing_shards(self) -> list[int]:
        return [k for k in range(self.shard_count) if not self.shard_path(k).is_file()]

    def is_complete(self) -> bool:
        return not self.missing_shards()

    def read(self, index: int) -> np.ndarray:
        """Clip `index` of the file list (its shard is built first if it is not on disk yet)."""
        shard, row = divmod(index, self.shard_clips)
        path = self.shard_path(shard)
        if not path.is_file():
            self.build_shard(shard)
        clips = np.load(path, mmap_mode="r")
        try:
            return np.array(clips[row])
        finally:
            del clips  # unmaps the file: its pages leave this process's resident memory

    def build_shard(self, shard: int) -> None:
        """Decode the shard's clips and write it under a temporary name, then rename it."""
        from tinyasc.data.loader import decode_clip

        with self._locks[shard]:
            path = self.shard_path(shard)
            if path.is_file():
                return
            first = shard * self.shard_clips
            indices = range(first, min(first + self.shard_clips, len(self.paths)))
            clips = np.zeros((len(indices), self.num_samples) + ((self.channels,) if self.channels > 1 else ()),
                             dtype=np.float32)
            for k, index in enumerate(indices):
                clips[k] = decode_clip(self.paths[index], self.sample_rate, self.num_samples, self.channels)
            if self.transform is not None:
                clips = self._transformed(clips)
            tmp = path.with_name(f"{path.stem}.tmp-{os.getpid()}-{threading.get_ident()}.npy")
            np.save(tmp, clips)
            os.replace(tmp, path)

    def _transformed(self, clips: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        out = np.zeros((len(clips),) + self.example_shape, dtype=np.float32)
        for first in range(0, len(clips), TRANSFORM_CLIPS):  # features' intermediates are many times the clips
            part = clips[first:first + TRANSFORM_CLIPS]
            out[first:first + len(part)] = np.asarray(self.transform(part), dtype=np.float32).reshape(out[:len(part)].shape)
        if self.times is not None:  # the reader counts the whole read as decoding: move this part to features
            seconds = time.perf_counter() - start
            self.times.add("features", seconds)
            self.times.add("decode", -seconds)
        return out

    def build(self, workers: int = 2, progress=None) -> int:
        """Build every missing shard with `workers` threads; returns how many were built.
        progress(done, total) is called after each shard."""
        missing = self.missing_shards()
        if progress:
            progress(0, len(missing))
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for done, _ in enumerate(pool.map(self.build_shard, missing), start=1):
                if progress:
                    progress(done, len(missing))
        return len(missing)

    def size_bytes(self) -> int:
        return sum(self.shard_path(k).stat().st_size for k in range(self.shard_count) if self.shard_path(k).is_file())
