"""Other runtimes' figures that tinyasc compares itself with: copied from DESIGN.md, never measured
by the run that prints them. One place, so each figure has one value, and every printer can say
where it came from (`source`).

DESIGN §6 and §7 measured TFLite Micro on the Cortex-M4 twin (mps2-an386, GCC 12.2.1 -O2, release
build, `-icount shift=0`, bit-exact with TFLM's Python interpreter). §6 gives sizes in KB; they are
read as KiB (1,024 B), as size tools print them. §7 gives bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024


@dataclass(frozen=True)
class TflmFigures:
    """TFLM on one model and twin, with one kernel set ("reference" or "cmsis-nn")."""

    model: str
    kernels: str
    cpu: str
    macs: int
    instructions: int
    code_flash_bytes: int  # the runtime and its kernels, without the model
    arena_bytes: int
    source: str
    static_ram_bytes: int | None = None  # RAM outside the arena, where the source gives it
    tflite_bytes: int | None = None

    @property
    def instructions_per_mac(self) -> float:
        return self.instructions / self.macs


_SECTION_6 = "DESIGN §6 (copied, not measured in this run)"
_SECTION_7 = "DESIGN §7 (copied, not measured in this run)"

ANCHOR_TFLM_REFERENCE = TflmFigures(
    model="anchor_cnn", kernels="reference", cpu="cortex-m4", macs=7_120_000, instructions=219_100_000,
    code_flash_bytes=round(28.6 * KIB), arena_bytes=round(130.7 * KIB), static_ram_bytes=round(2.3 * KIB),
    tflite_bytes=20_432, source=_SECTION_6,
)
ANCHOR_TFLM_CMSIS_NN = TflmFigures(
    model="anchor_cnn", kernels="cmsis-nn", cpu="cortex-m4", macs=7_120_000, instructions=29_860_000,
    code_flash_bytes=round(59.1 * KIB), arena_bytes=round(130.7 * KIB), static_ram_bytes=round(2.3 * KIB),
    tflite_bytes=20_432, source=_SECTION_6,
)

# §7: MLPerf Tiny reference architectures, TFLM + CMSIS-NN (same-shape models are fair stand-ins:
# instruction counts depend on shapes, not weights).
MLPERF_TINY_TFLM_CMSIS_NN = {
    figures.model: figures for figures in (
        TflmFigures("ds_cnn_kws", "cmsis-nn", "cortex-m4", 2_660_000, 7_700_000, 76_341, 22_820, _SECTION_7,
                    tflite_bytes=53_936),
        TflmFigures("fc_autoencoder", "cmsis-nn", "cortex-m4", 264_000, 583_000, 26_559, 2_580, _SECTION_7,
                    tflite_bytes=276_976),
        TflmFigures("resnet8", "cmsis-nn", "cortex-m4", 12_500_000, 29_870_000, 71_103, 54_996, _SECTION_7,
                    tflite_bytes=98_496),
        TflmFigures("mobilenet_v1_025", "cmsis-nn", "cortex-m4", 7_490_000, 24_100_000, 76_341, 100_708, _SECTION_7,
                    tflite_bytes=333_288),
        TflmFigures("streaming_ds_cnn", "cmsis-nn", "cortex-m4", 830_000, 2_230_000, 73_259, 16_596, _SECTION_7,
                    tflite_bytes=74_520),
    )
}
