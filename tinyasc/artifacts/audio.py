"""What one model input stands for in audio terms, carried from the run to the device.

Training knows the sample rate, whether the model takes a raw waveform or log-mel features, and
how much audio one inference covers; a `.tflite` knows none of it. `AudioInput` carries these facts
through run.json, the export manifest (its "audio" section) and model.h. Every field may be None:
unknown stays unknown rather than becoming a guess such as 16 kHz.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from tinyasc.errors import TinyascError

INPUT_KINDS = ("raw", "logmel")


@dataclass(frozen=True)
class AudioInput:
    sample_rate: int | None = None  # Hz of the audio the model was trained on
    kind: str | None = None  # "raw" (waveform samples) or "logmel" (log mel-filterbank features)
    channels: int | None = None  # audio channels of a raw-waveform input
    input_samples: int | None = None  # audio samples one inference consumes
    log_mel: dict | None = None  # the front-end's settings (tinyasc.frontend.logmel.LogMelSettings fields)
    level: dict | None = None  # a raw input's level normalisation (tinyasc.frontend.level.LevelSettings fields)

    def __post_init__(self):
        if self.kind is not None and self.kind not in INPUT_KINDS:
            raise TinyascError(f"input kind must be one of {', '.join(INPUT_KINDS)}. Received: kind={self.kind!r}.")
        if self.sample_rate is not None and (not isinstance(self.sample_rate, int) or self.sample_rate <= 0):
            raise TinyascError(f"sample rate must be a positive number of Hz. Received: sample_rate={self.sample_rate!r}.")

    @property
    def is_known(self) -> bool:
        return any(value is not None for value in asdict(self).values())

    @property
    def seconds_per_inference(self) -> float | None:
        """Audio one inference covers; None when the rate or the sample count is unknown."""
        if self.sample_rate is None or self.input_samples is None:
            return None
        return self.input_samples / self.sample_rate

    def to_dict(self) -> dict:
        """The known facts only, plus seconds_per_inference when it follows from them."""
        facts = {key: value for key, value in asdict(self).items() if value is not None}
        if self.seconds_per_inference is not None:
            facts["seconds_per_inference"] = self.seconds_per_inference
        return facts

    @classmethod
    def from_dict(cls, facts: dict | None) -> AudioInput:
        facts = facts or {}
        return cls(**{key: facts.get(key) for key in cls.__dataclass_fields__})
