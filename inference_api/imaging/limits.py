"""The numbers an upload is held to while it is inspected and decoded.

A `DecodeLimits` travels with each job into the decoder process, which has
no Django settings. The limits an operator sets (dimension, pixels, scans,
the decode budget) are defined once, in the settings (config/settings/base.py,
documented in config/environment.py), and have no default here:
`from_settings` is the one place they are handed over. The structural caps
below them are this module's own: fast refusals, sized far above what real
cameras, phones and encoders write; the decode budget (CPU, memory, wall
clock) is what bounds every input nobody listed.
"""

from dataclasses import asdict, dataclass
from typing import Any

MIB = 1024 * 1024


@dataclass(frozen=True)
class DecodeLimits:
    """Caps on one upload's structure and on what decoding it may cost."""

    # From the settings (MAX_IMAGE_DIMENSION, MAX_IMAGE_PIXELS, MAX_JPEG_SCANS).
    max_dimension: int
    max_pixels: int
    max_jpeg_scans: int
    # The most one decode may get, enforced by the kernel (see inference_api.sandbox);
    # each upload gets what its header earns under these ceilings (imaging/cost.py).
    # From the settings (DECODE_CPU_SECONDS, DECODE_MEMORY_BYTES, DECODE_WALL_SECONDS).
    cpu_seconds: float
    memory_bytes: int
    wall_seconds: float
    # JPEG: block visits summed over scans (the cost of a progressive decode), markers.
    max_jpeg_scan_blocks: int = 30_000_000
    max_jpeg_markers: int = 2_000
    max_jpeg_fill_bytes: int = 4_096
    max_jpeg_metadata_bytes: int = 4 * MIB
    # PNG: chunk count, bytes of chunks that are not pixels, inflated metadata.
    max_png_chunks: int = 20_000
    max_png_metadata_chunks: int = 1_000
    max_png_metadata_bytes: int = 4 * MIB
    max_png_inflated_metadata_bytes: int = 8 * MIB
    max_png_frames: int = 1_000
    # WebP: chunk count (frames included).
    max_webp_chunks: int = 2_000

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "DecodeLimits":
        return cls(**values)

    @classmethod
    def from_settings(cls, **overrides: Any) -> "DecodeLimits":
        """The limits the running configuration sets (imports Django's settings).

        The one place the settings' limits are handed to the decoding
        packages; `overrides` replace some (tests, benchmarks).
        """
        from django.conf import settings

        values = {
            "max_dimension": settings.MAX_IMAGE_DIMENSION,
            "max_pixels": settings.MAX_IMAGE_PIXELS,
            "max_jpeg_scans": settings.MAX_JPEG_SCANS,
            "cpu_seconds": settings.DECODE_CPU_SECONDS,
            "memory_bytes": settings.DECODE_MEMORY_BYTES,
            "wall_seconds": settings.DECODE_WALL_SECONDS,
        }
        return cls(**{**values, **overrides})


@dataclass(frozen=True)
class ModelInput:
    """What the model wants from a picture: short side to `resize_size`, centre square.

    Copied from the model's metadata by the parent, so the decoder produces
    exactly the crop the loaded model was exported with.
    """

    resize_size: int = 256
    input_size: int = 224
    interpolation: str = "bicubic"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ModelInput":
        return cls(**values)

    @classmethod
    def of(cls, metadata: Any) -> "ModelInput":
        """What a model's metadata (analysis.metadata.ModelMetadata) says it wants."""
        return cls(
            resize_size=metadata.resize_size,
            input_size=metadata.input_size,
            interpolation=metadata.interpolation,
        )
