"""Experiment configs: one YAML file per model recipe (configs/*.yaml) → frozen dataclasses.

    model:        {name: pajusco_a, kwargs: {}}            a name from tinyasc.models.MODELS
    data:         {sample_rate: 16000, duration_s: 1.0, channels: 2}
    features:     {kind: raw}  or  {kind: logmel, preset: idlab-16k}
    training:     {epochs, batch_size, optimizer: adam | adamw, weight_decay, seed,
                   learning_rate: {schedule: constant | triangular2, max, min, half_cycle_epochs}}
    distribution: {strategy: none | mirrored | multi_worker_mirrored}

Loading is strict, because a typo in a config silently training the wrong recipe costs hours:
an unknown key is an error that suggests the closest known key, a missing required key and a
wrong type are errors that name the key's full path. Only `yaml.safe_load` is used. YAML 1.1
reads `1e-3` (no dot) as a string; number fields accept such strings and convert them.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType

from tinyasc.errors import TinyascError

STRATEGIES = ("none", "mirrored", "multi_worker_mirrored")
OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "triangular2")
FEATURE_KINDS = ("raw", "logmel")


class ConfigError(TinyascError):
    """A config file is malformed: unknown or missing key, wrong type or value."""


def _choices(*allowed: str) -> dict:
    return {"choices": allowed}


@dataclass(frozen=True)
class ModelConfig:
    name: str
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DataConfig:
    sample_rate: int = 16000
    duration_s: float = 1.0
    channels: int = 1  # the model's input channels; mono clips are repeated into each (see train/run.py)


@dataclass(frozen=True)
class FeaturesConfig:
    kind: str = field(default="raw", metadata=_choices(*FEATURE_KINDS))
    preset: str | None = None  # a tinyasc.features preset, for kind: logmel


@dataclass(frozen=True)
class LearningRateConfig:
    schedule: str = field(default="constant", metadata=_choices(*SCHEDULES))
    max: float = 1e-3  # the constant rate, or the triangular2 peak
    min: float = 1e-6  # the triangular2 valley
    half_cycle_epochs: float = 60.0  # triangular2: epochs from valley to peak (IDLab: 120-epoch cycles)


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int
    batch_size: int = 32
    optimizer: str = field(default="adam", metadata=_choices(*OPTIMIZERS))
    learning_rate: LearningRateConfig = field(default_factory=LearningRateConfig)
    weight_decay: float = 0.0  # adam: L2 on kernels (PyTorch Adam's weight_decay); adamw: decoupled
    seed: int = 0


@dataclass(frozen=True)
class DistributionConfig:
    strategy: str = field(default="none", metadata=_choices(*STRATEGIES))


@dataclass(frozen=True)
class ExperimentConfig:
    model: ModelConfig
    training: TrainingConfig
    data: DataConfig = field(default_factory=DataConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    distribution: DistributionConfig = field(default_factory=DistributionConfig)


def load_config(path: str | os.PathLike) -> ExperimentConfig:
    """Read and validate one experiment YAML file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; the paper recipes are in configs/*.yaml")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML ({err}); fix the line it points at") from err
    return config_from_dict(raw, source=str(path))


def config_from_dict(raw, source: str = "config") -> ExperimentConfig:
    """Validate a mapping (as yaml.safe_load returns it) into an ExperimentConfig."""
    config = _build(ExperimentConfig, raw, source, where="")
    _check_values(config, source)
    return config


def _build(cls, raw, source: str, where: str):
    """One dataclass from a mapping: reject unknown keys, require keys without defaults, check types."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {where or 'the file'} must be a mapping of keys; received: {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in raw:
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(fields)}"
            raise ConfigError(f"{source}: unknown key {_path(where, key)!r}{hint}")
    values = {}
    for name, f in fields.items():
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{source}: missing key {_path(where, name)!r} ({_type_name(hints[name])})")
            continue
        values[name] = _convert(hints[name], raw[name], source, _path(where, name))
        allowed = f.metadata.get("choices")
        if allowed and values[name] not in allowed:
            raise ConfigError(
                f"{source}: {_path(where, name)} must be one of {', '.join(allowed)}; received: {values[name]!r}"
            )
    return cls(**values)


def _convert(hint, value, source: str, where: str):
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, source, where)
    if isinstance(hint, UnionType):  # `X | None`
        if value is None:
            return None
        hint = next(t for t in typing.get_args(hint) if t is not type(None))
    if hint is float and isinstance(value, str):
        try:
            return float(value)  # YAML 1.1 reads 1e-3 as a string
        except ValueError:
            pass
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is dict and value is None:
        return {}
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ConfigError(
            f"{source}: {where} must be {_type_name(hint)}; received: {value!r} ({type(value).__name__})"
        )
    return value


def _check_values(config: ExperimentConfig, source: str) -> None:
    """Ranges the types cannot express."""
    positive = {
        "training.epochs": config.training.epochs,
        "training.batch_size": config.training.batch_size,
        "training.learning_rate.max": config.training.learning_rate.max,
        "training.learning_rate.min": config.training.learning_rate.min,
        "training.learning_rate.half_cycle_epochs": config.training.learning_rate.half_cycle_epochs,
        "data.sample_rate": config.data.sample_rate,
        "data.duration_s": config.data.duration_s,
        "data.channels": config.data.channels,
    }
    for where, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{source}: {where} must be > 0; received: {value}")
    if config.training.weight_decay < 0:
        raise ConfigError(f"{source}: training.weight_decay must be >= 0; received: {config.training.weight_decay}")
    if config.features.kind == "logmel" and not config.features.preset:
        raise ConfigError(f"{source}: features.kind logmel needs features.preset (e.g. idlab-16k)")
    from tinyasc.models.registry import MODELS

    if config.model.name not in MODELS:
        close = difflib.get_close_matches(config.model.name, MODELS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known models: {', '.join(sorted(MODELS))}"
        raise ConfigError(f"{source}: unknown model.name {config.model.name!r}; {hint}")


def _path(where: str, key) -> str:
    return f"{where}.{key}" if where else str(key)


def _type_name(hint) -> str:
    if dataclasses.is_dataclass(hint):
        return "a mapping"
    names = {int: "an integer", float: "a number", str: "a string", dict: "a mapping", bool: "true or false"}
    if isinstance(hint, UnionType):
        return " or ".join(names.get(t, "null") for t in typing.get_args(hint))
    return names.get(hint, getattr(hint, "__name__", str(hint)))
