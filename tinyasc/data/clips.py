"""Clips read on demand: a dataset's waveforms without holding them in memory.

`ClipReader` stands where AudioDataset.x is a numpy array: it has the shape, dtype and indexing the
training, evaluation and conversion code use (`x[i]`, `x[mask]`, `x[a:b]`, `x[:100, :n]`,
`np.asarray(x)`), but a clip is decoded (loader.decode_clip) or read from the on-disk cache
(data/cache.py) only when it is indexed. Row selections (`x[mask]`, `x[a:b]`) stay lazy; anything
else returns a numpy array of just the rows asked for. So memory grows with what one asks for at
once (a batch, a chunk of recordings), not with the dataset.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np


class ClipReader:
    """Lazy float32 waveforms [N, T] (mono) or [N, T, C] of `paths`, at `sample_rate`."""

    dtype = np.dtype(np.float32)

    def __init__(self, paths, sample_rate: int, num_samples: int, channels: int = 1,
                 cache_dir: str | os.PathLike | None = None, rows: np.ndarray | None = None, cache=None,
                 example_shape: tuple | None = None):
        self.paths = list(paths)
        self.sample_rate, self.num_samples, self.channels = int(sample_rate), int(num_samples), int(channels)
        self.rows = np.arange(len(self.paths)) if rows is None else np.asarray(rows, dtype=np.int64)
        if cache is None and cache_dir is not None:
            from tinyasc.data.cache import WaveformCache

            cache = WaveformCache(Path(cache_dir), self.paths, self.sample_rate, self.num_samples, self.channels)
        self.cache = cache
        self.example_shape = tuple(example_shape) if example_shape else None  # set: the reader gives features
        self.decode_seconds = 0.0  # time spent decoding or reading clips, over all threads (approximate)

    @property
    def shape(self) -> tuple[int, ...]:
        if self.example_shape:
            return (len(self.rows),) + self.example_shape
        return (len(self.rows), self.num_samples) + ((self.channels,) if self.channels > 1 else ())

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return len(self.rows)

    def clip(self, index: int) -> np.ndarray:
        """The waveform of row `index` of this selection, as a fresh array."""
        start = time.perf_counter()
        file_index = int(self.rows[index])
        if self.cache is not None:
            audio = self.cache.read(file_index)
        else:
            from tinyasc.data.loader import decode_clip

            audio = decode_clip(self.paths[file_index], self.sample_rate, self.num_samples, self.channels)
        self.decode_seconds += time.perf_counter() - start
        return audio

    def read(self, indices) -> np.ndarray:
        """The waveforms of these rows, stacked: [len(indices), T(, C)]."""
        indices = list(indices)
        out = np.zeros((len(indices),) + self.shape[1:], dtype=np.float32)
        for k, index in enumerate(indices):
            out[k] = self.clip(index)
        return out

    def select(self, key) -> "ClipReader":
        """A lazy selection of rows: a slice, a boolean mask or integer indices."""
        return ClipReader(self.paths, self.sample_rate, self.num_samples, self.channels,
                          rows=self.rows[key], cache=self.cache, example_shape=self.example_shape)

    def with_features(self, transform, transform_key: str, example_shape: tuple) -> "ClipReader":
        """The same rows as model inputs, `transform` (a batch of waveforms → inputs of example_shape)
        applied once per clip and kept in a features cache next to this reader's waveform cache."""
        from tinyasc.data.cache import WaveformCache

        cache = WaveformCache(self.cache.folder.parent, self.paths, self.sample_rate, self.num_samples, self.channels,
                              transform=transform, transform_key=transform_key, example_shape=example_shape)
        return ClipReader(self.paths, self.sample_rate, self.num_samples, self.channels, rows=self.rows, cache=cache,
                          example_shape=example_shape)

    def __getitem__(self, key):
        if isinstance(key, tuple):
            rows, rest = key[0], key[1:]
            if isinstance(rows, (int, np.integer)):
                return self.clip(int(rows))[rest]
            return np.asarray(self.select(rows))[(slice(None),) + rest]
        if isinstance(key, (int, np.integer)):
            return self.clip(int(key))
        return self.select(key)

    def __array__(self, dtype=None, copy=None):
        x = self.read(range(len(self)))
        return x if dtype is None else x.astype(dtype, copy=False)

    def __iter__(self):
        for index in range(len(self)):
            yield self.clip(index)
