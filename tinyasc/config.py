"""Experiment configs: one YAML file per model recipe (configs/*.yaml) → frozen dataclasses.

    model:        {name: pajusco_a, kwargs: {}}            a name from tinyasc.models.MODELS
    data:         {sample_rate: 16000, duration_s: 1.0, channels: 2}
    features:     {kind: raw[, level: {mode: peak | rms, target_dbfs: -1, max_gain_db: 40}]}
                  or  {kind: logmel, preset: idlab-16k}  or  {kind: logmel, n_mels: 40, hop_s: 0.02, ...}
    training:     {epochs, batch_size, optimizer: adam | adamw, weight_decay, seed, early_stopping_patience,
                   learning_rate: {schedule: constant | triangular2 | plateau, max, min, half_cycle_epochs,
                                   patience, factor}}
    augmentation: {random_crop_s, speed_perturbation, mixup_alpha,                         (IDLab)
                   temporal_mask_probability, fir_filter_probability, noise_probability,
                   noise_min_snr_db, noise_max_snr_db, cutmix_alpha}                       (Pajusco)
    distribution: {strategy: none | mirrored | multi_worker_mirrored}
    structured_pruning: {step_fraction: 0.2, steps, fine_tune_epochs, learning_rate: 1e-5}  (optional)
    pruning:      {target_sparsity: 0.5, schedule: polynomial | constant, epochs, learning_rate} (optional)
    quantization: {mode: auto | ptq | qat, input_ranges: [max, p99.99, p99.9], qat_threshold: 0.005,
                   qat_epochs: 3, learning_rate: 1e-4}                        (train/ptq.py, train/qat.py)
    calibration:  {kind: none | multinomial | ovr}                                         (train/calibrate.py)

Loading is strict, because a typo in a config silently training the wrong recipe costs hours:
an unknown key is an error that suggests the closest known key, a missing required key and a
wrong type are errors that name the key's full path. The YAML is read by
artifacts/yaml_input.py (safe loader; no repeated keys, alias bombs or deep nesting). YAML 1.1
reads `1e-3` (no dot) as a string; number fields accept such strings and convert them.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType

from tinyasc.artifacts.yaml_input import clip_repr
from tinyasc.errors import TinyascError
from tinyasc.frontend.level import LEVEL_MODES

STRATEGIES = ("none", "mirrored", "multi_worker_mirrored")
OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "triangular2", "plateau")
FEATURE_KINDS = ("raw", "logmel")
PRUNING_SCHEDULES = ("polynomial", "constant")
QUANTIZATION_MODES = ("auto", "ptq", "qat")
CALIBRATION_KINDS = ("none", "multinomial", "ovr")


class ConfigError(TinyascError):
    """A config file is malformed: unknown or missing key, wrong type or value."""


def _choices(*allowed: str) -> dict:
    return {"choices": allowed}


@dataclass(frozen=True)
class ModelConfig:
    name: str
    kwargs: dict = field(default_factory=dict)


# A config that gives no data.sample_rate trains at the anchor's rate (DESIGN §6).
ANCHOR_SAMPLE_RATE = 16000


@dataclass(frozen=True)
class DataConfig:
    sample_rate: int = ANCHOR_SAMPLE_RATE
    duration_s: float = 1.0
    channels: int = 1  # the model's input channels; mono clips are repeated into each (see train/run.py)


@dataclass(frozen=True)
class LevelConfig:
    """Level normalisation of each raw input window, the same in training and in the generated C
    (tinyasc/frontend/level.py): scale its peak or RMS to target_dbfs, by at most max_gain_db."""

    mode: str = field(default="peak", metadata=_choices(*LEVEL_MODES[1:]))
    target_dbfs: float = -1.0
    max_gain_db: float = 40.0
    stream_agc_windows: int = 0  # streaming API only: the level follows the windows' over N windows (0: off)


@dataclass(frozen=True)
class FeaturesConfig:
    """The model's input: the raw waveform, or log-mel energies at data.sample_rate. For log-mel,
    a preset (tinyasc.frontend.logmel.PRESETS) and/or the analysis itself: fields given here override the
    preset's; without a preset the DFT is the smallest power of two that holds the window."""

    kind: str = field(default="raw", metadata=_choices(*FEATURE_KINDS))
    preset: str | None = None
    n_mels: int | None = None
    window_s: float | None = None
    hop_s: float | None = None
    n_fft: int | None = None
    fmin: float | None = None
    fmax: float | None = None  # None: sample_rate / 2
    level: LevelConfig | None = None  # raw input only; left out: the waveform as it is


@dataclass(frozen=True)
class LearningRateConfig:
    schedule: str = field(default="constant", metadata=_choices(*SCHEDULES))
    max: float = 1e-3  # the constant rate, the triangular2 peak, or the plateau schedule's first rate
    min: float = 1e-6  # the triangular2 valley, or the plateau schedule's floor
    half_cycle_epochs: float = 60.0  # triangular2: epochs from valley to peak (IDLab: 120-epoch cycles)
    patience: int = 5  # plateau: epochs without a lower validation loss before the rate is cut (Pajusco: 5)
    factor: float = 0.5  # plateau: what the rate is multiplied by then (Pajusco: halved)


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int
    batch_size: int = 32
    optimizer: str = field(default="adam", metadata=_choices(*OPTIMIZERS))
    learning_rate: LearningRateConfig = field(default_factory=LearningRateConfig)
    weight_decay: float = 0.0  # adam: L2 on kernels (PyTorch Adam's weight_decay); adamw: decoupled
    seed: int = 0
    early_stopping_patience: int | None = None  # stop after this many epochs without a lower validation loss


@dataclass(frozen=True)
class AugmentationConfig:
    """The papers' training-set augmentations (data/augment.py); all off by default. Validation and test
    data are never augmented. Per clip, in this order: crop, speed, mask, filter, noise; per batch:
    mixup, then CutMix."""

    random_crop_s: float | None = None  # train on random crops this long; evaluation averages over crops (IDLab: 3)
    speed_perturbation: bool = False  # resample each clip at 85, 100 or 115 % (IDLab)
    mixup_alpha: float | None = None  # time-domain mixup, λ ~ Beta(α, α) (IDLab: 0.2)
    temporal_mask_probability: float = 0.0  # keep one Gaussian-length window, zero the rest (Pajusco)
    fir_filter_probability: float = 0.0  # one of the 8 FIR low/high/band-pass filters (Pajusco)
    noise_probability: float = 0.0  # white noise at an SNR drawn in 1-dB steps (Pajusco: 6–32 dB)
    noise_min_snr_db: float = 6.0
    noise_max_snr_db: float = 32.0
    cutmix_alpha: float | None = None  # CutMix in time, share ~ Beta(α, α) (Pajusco: 1)


@dataclass(frozen=True)
class DistributionConfig:
    strategy: str = field(default="none", metadata=_choices(*STRATEGIES))


@dataclass(frozen=True)
class PruningConfig:
    """Unstructured magnitude pruning with TF-MOT after training, while fine-tuning (train/prune.py)."""

    target_sparsity: float  # fraction of each prunable kernel set to zero (IDLab: 0.25)
    schedule: str = field(default="polynomial", metadata=_choices(*PRUNING_SCHEDULES))
    epochs: int = 2  # fine-tuning epochs; polynomial ramps up over the first half
    learning_rate: float = 1e-4


@dataclass(frozen=True)
class StructuredPruningConfig:
    """Iterative L1-norm filter pruning (Pajusco et al.; train/structured.py), before `pruning`."""

    step_fraction: float = 0.2  # filters removed from each prunable conv per step (Pajusco: 0.1 or 0.2)
    steps: int = 1
    fine_tune_epochs: int = 1  # after each step
    learning_rate: float = 1e-5


@dataclass(frozen=True)
class QuantizationConfig:
    """How the int8 model is made (train/ptq.py): post-training quantization with the input range
    that scores best on val among `input_ranges`, then QAT (train/qat.py) always (qat), never (ptq),
    or (auto) when that PTQ's val accuracy is more than qat_threshold below float's, keeping the
    better int8 model. The float, PTQ candidates' and QAT figures are recorded for comparison."""

    mode: str = field(default="auto", metadata=_choices(*QUANTIZATION_MODES))
    input_ranges: tuple = ("max", "p99.99", "p99.9")  # "max" (min/max) or "pNN.N": percentile clipping
    qat_threshold: float = 0.005  # accuracy as a fraction: 0.005 = half a point; -1 always QATs in auto
    qat_epochs: int = 3
    learning_rate: float = 1e-4  # QAT fine-tuning rate (constant)


@dataclass(frozen=True)
class CalibrationConfig:
    """Logistic-regression calibration on val logits, fused into the final dense layer (train/calibrate.py)."""

    kind: str = field(default="none", metadata=_choices(*CALIBRATION_KINDS))


@dataclass(frozen=True)
class ExperimentConfig:
    model: ModelConfig
    training: TrainingConfig
    data: DataConfig = field(default_factory=DataConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    distribution: DistributionConfig = field(default_factory=DistributionConfig)
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
    pruning: PruningConfig | None = None  # left out: no unstructured pruning
    structured_pruning: StructuredPruningConfig | None = None  # left out: no filter pruning
    quantization: QuantizationConfig = field(default_factory=QuantizationConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)


def load_config(path: str | os.PathLike) -> ExperimentConfig:
    """Read and validate one experiment YAML file."""
    from tinyasc.artifacts.yaml_input import load_user_yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; the paper recipes are in configs/*.yaml")
    raw = load_user_yaml(path, ConfigError, "config file")
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
            close = difflib.get_close_matches(str(key)[:100], fields, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(fields)}"
            raise ConfigError(f"{source}: unknown key {clip_repr(_path(where, key))}{hint}")
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
                f"{source}: {_path(where, name)} must be one of {', '.join(allowed)}; received: {clip_repr(values[name])}"
            )
    return cls(**values)


def _convert(hint, value, source: str, where: str):
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, source, where)
    if isinstance(hint, UnionType):  # `X | None`
        if value is None:
            return None
        hint = next(t for t in typing.get_args(hint) if t is not type(None))
        if dataclasses.is_dataclass(hint):  # an optional section, e.g. pruning
            return _build(hint, value, source, where)
    if hint is float and isinstance(value, str):
        try:
            value = float(value[:100])  # YAML 1.1 reads 1e-3 as a string
        except ValueError:
            pass
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value) if abs(value) < 1e300 else math.inf
    if hint is float and isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{source}: {where} must be a finite number; received: {value}")
    if hint is float and isinstance(value, float):
        return value
    if hint is dict and value is None:
        return {}
    if hint is tuple and isinstance(value, list):
        value = tuple(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ConfigError(
            f"{source}: {where} must be {_type_name(hint)}; received: {clip_repr(value)} ({type(value).__name__})"
        )
    return value


# Bounds checked before anything is allocated: (lowest, highest, what a value outside means).
# A learning rate above 10 only diverges (NaN weights); 384 kHz is the highest rate audio
# interfaces record; a clip is at most MAX_CLIP_SAMPLES samples (one clip of every batch is in memory).
MAX_CLIP_SAMPLES = 2**23  # 8.4 M samples: 524 s at 16 kHz, 175 s at 48 kHz
MIN_DURATION_S = 0.01
BOUNDS = {
    "training.epochs": (1, 100_000),
    "training.batch_size": (1, 65_536),
    "training.learning_rate.max": (1e-12, 10.0),
    "training.learning_rate.min": (1e-12, 10.0),
    "training.learning_rate.half_cycle_epochs": (1e-3, 100_000),
    "training.weight_decay": (0.0, 1.0),
    "training.seed": (0, 2**31 - 1),
    "data.sample_rate": (1000, 384_000),
    "data.duration_s": (MIN_DURATION_S, 3600.0),
    "data.channels": (1, 16),
}


def check_config_values(config: ExperimentConfig, source: str) -> None:
    """The ranges and choices of a config built in code (or changed by command-line overrides)."""
    _check_values(config, source)


def _check_values(config: ExperimentConfig, source: str) -> None:
    """Ranges the types cannot express."""
    for where, (low, high) in BOUNDS.items():
        section, *names = where.split(".")
        value = getattr(config, section)
        for name in names:
            value = getattr(value, name)
        if not low <= value <= high:
            raise ConfigError(f"{source}: {where} must be between {_number(low)} and {_number(high)}; "
                              f"received: {_number(value)}")
    clip_samples = config.data.sample_rate * config.data.duration_s
    if clip_samples > MAX_CLIP_SAMPLES:
        raise ConfigError(f"{source}: data.sample_rate x data.duration_s is {clip_samples:,.0f} samples per clip, "
                          f"above the {MAX_CLIP_SAMPLES:,} tinyasc holds in memory; shorten the clips or lower the rate")
    _check_model_kwargs(config, source)
    _check_schedule_and_augmentation(config, source)
    _check_pruning(config, source)
    _check_quantization(config, source)
    _check_features(config, source)
    from tinyasc.models.registry import MODELS

    if config.model.name not in MODELS:
        close = difflib.get_close_matches(config.model.name, MODELS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known models: {', '.join(sorted(MODELS))}"
        raise ConfigError(f"{source}: unknown model.name {clip_repr(config.model.name)}; {hint}")


def _check_model_kwargs(config: ExperimentConfig, source: str) -> None:
    """model.kwargs go to the model builder as they are: numbers there are bounded too."""
    for key, value in config.model.kwargs.items():
        where = f"model.kwargs.{clip_repr(key)}"
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{source}: {where} must be a finite number; received: {value}")
        if isinstance(value, int) and not isinstance(value, bool) and not -MAX_CLIP_SAMPLES <= value <= MAX_CLIP_SAMPLES:
            raise ConfigError(f"{source}: {where} is out of range; received: {clip_repr(value)}")
    num_classes = config.model.kwargs.get("num_classes")
    if num_classes is not None and (not isinstance(num_classes, int) or isinstance(num_classes, bool)
                                    or num_classes < 2):
        raise ConfigError(f"{source}: model.kwargs.num_classes must be an integer >= 2 (or left out: the "
                          f"dataset's classes decide); received: {clip_repr(num_classes)}")


def _check_features(config: ExperimentConfig, source: str) -> None:
    from tinyasc.frontend.logmel import ANALYSIS_FIELDS, logmel_settings

    from tinyasc.frontend.level import LevelSettings

    features = config.features
    if features.kind == "raw":
        given = [name for name in ("preset", *ANALYSIS_FIELDS) if getattr(features, name) is not None]
        if given:
            raise ConfigError(f"{source}: features.{given[0]} is for kind: logmel; the raw waveform has no analysis "
                              "settings (remove it, or set features.kind: logmel)")
    elif features.level is not None:
        raise ConfigError(f"{source}: features.level is for kind: raw (the log-mel front-end normalises by "
                          "its mean over time); remove it")
    try:
        if features.kind == "logmel":
            logmel_settings(features, config.data.sample_rate)
        if features.level is not None:
            LevelSettings(**dataclasses.asdict(features.level))
    except TinyascError as error:
        raise ConfigError(f"{source}: features: {error}") from None


def _check_schedule_and_augmentation(config: ExperimentConfig, source: str) -> None:
    rate, training, augmentation = config.training.learning_rate, config.training, config.augmentation
    problems = []
    if rate.patience < 1:
        problems.append(f"training.learning_rate.patience must be >= 1; received: {rate.patience}")
    if not 0 < rate.factor < 1:
        problems.append(f"training.learning_rate.factor must be between 0 and 1 (0.5 halves); received: {rate.factor}")
    if training.early_stopping_patience is not None and training.early_stopping_patience < 1:
        problems.append(f"training.early_stopping_patience must be >= 1 (or left out); received: "
                        f"{training.early_stopping_patience}")
    for name in ("temporal_mask_probability", "fir_filter_probability", "noise_probability"):
        value = getattr(augmentation, name)
        if not 0 <= value <= 1:
            problems.append(f"augmentation.{name} must be between 0 and 1; received: {value}")
    for name in ("mixup_alpha", "cutmix_alpha", "random_crop_s"):
        value = getattr(augmentation, name)
        if value is not None and value <= 0:
            problems.append(f"augmentation.{name} must be > 0 (or left out to switch it off); received: {value}")
    crop = augmentation.random_crop_s
    if crop is not None and crop > config.data.duration_s:
        problems.append(f"augmentation.random_crop_s ({crop}) is longer than data.duration_s ({config.data.duration_s}); "
                        "crop less or load longer clips")
    if augmentation.noise_min_snr_db > augmentation.noise_max_snr_db:
        problems.append(f"augmentation.noise_min_snr_db ({augmentation.noise_min_snr_db}) is above "
                        f"noise_max_snr_db ({augmentation.noise_max_snr_db})")
    from tinyasc.data.augment import FIR_BANK_HIGHEST_CUTOFF_HZ

    if augmentation.fir_filter_probability > 0 and config.data.sample_rate <= 2 * FIR_BANK_HIGHEST_CUTOFF_HZ:
        problems.append(f"augmentation.fir_filter_probability needs data.sample_rate above "
                        f"{2 * FIR_BANK_HIGHEST_CUTOFF_HZ:.0f} Hz "
                        f"(the bank cuts at up to {FIR_BANK_HIGHEST_CUTOFF_HZ:.0f} Hz); "
                        f"received: {config.data.sample_rate}")
    if problems:
        raise ConfigError(f"{source}: {problems[0]}")


def _check_pruning(config: ExperimentConfig, source: str) -> None:
    pruning, structured = config.pruning, config.structured_pruning
    if pruning is not None:
        if not 0 < pruning.target_sparsity < 1:
            raise ConfigError(f"{source}: pruning.target_sparsity must be between 0 and 1 (0.5 zeroes half "
                              f"the weights); received: {pruning.target_sparsity}")
        if pruning.epochs < 1 or pruning.learning_rate <= 0:
            raise ConfigError(f"{source}: pruning.epochs must be >= 1 and pruning.learning_rate > 0; received: "
                              f"{pruning.epochs}, {pruning.learning_rate}")
    if structured is not None:
        if not 0 < structured.step_fraction < 1:
            raise ConfigError(f"{source}: structured_pruning.step_fraction must be between 0 and 1 (0.2 removes "
                              f"a fifth of the filters per step); received: {structured.step_fraction}")
        if structured.steps < 1 or structured.fine_tune_epochs < 0 or structured.learning_rate <= 0:
            raise ConfigError(f"{source}: structured_pruning needs steps >= 1, fine_tune_epochs >= 0 and "
                              f"learning_rate > 0; received: {structured.steps}, {structured.fine_tune_epochs}, "
                              f"{structured.learning_rate}")


def _check_quantization(config: ExperimentConfig, source: str) -> None:
    quantization = config.quantization
    if not quantization.input_ranges:
        raise ConfigError(f"{source}: quantization.input_ranges needs at least one method, e.g. [max]")
    from tinyasc.convert.quantize import parse_range_method

    for method in quantization.input_ranges:
        try:
            parse_range_method(str(method))
        except TinyascError as error:
            raise ConfigError(f"{source}: quantization.input_ranges: {error}") from None
    if quantization.qat_epochs < 1 or quantization.learning_rate <= 0:
        raise ConfigError(f"{source}: quantization.qat_epochs must be >= 1 and quantization.learning_rate > 0; "
                          f"received: {quantization.qat_epochs}, {quantization.learning_rate}")


def _number(value) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _path(where: str, key) -> str:
    return f"{where}.{key}" if where else str(key)


def _type_name(hint) -> str:
    if dataclasses.is_dataclass(hint):
        return "a mapping"
    names = {int: "an integer", float: "a number", str: "a string", dict: "a mapping", bool: "true or false"}
    if isinstance(hint, UnionType):
        return " or ".join(names.get(t, "null") for t in typing.get_args(hint))
    return names.get(hint, getattr(hint, "__name__", str(hint)))
