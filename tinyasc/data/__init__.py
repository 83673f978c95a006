"""Datasets: every source becomes a `path,label,split` CSV, loaded by one loader.

Importable without TensorFlow (DESIGN §3): nothing in tinyasc.data may import it at module level.
"""

from tinyasc.data.loader import AudioDataset, load_csv_dataset
from tinyasc.data.synthetic import SYNTHETIC_CLASSES, SYNTHETIC_SAMPLE_RATE, make_synthetic_dataset

__all__ = ["AudioDataset", "load_csv_dataset", "SYNTHETIC_CLASSES", "SYNTHETIC_SAMPLE_RATE", "make_synthetic_dataset"]
