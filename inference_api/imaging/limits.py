"""The numbers an upload is held to while it is inspected and decoded.

A `DecodeLimits` travels with each job into the decoder process, which has
no Django settings: the parent builds it from settings (`from_settings`),
tests build it directly. The structural caps are fast refusals, sized far
above what real cameras, phones and encoders write; the decode budget (CPU,
memory, wall clock) is what bounds every input nobody listed.
"""

from dataclasses import asdict, dataclass
from typing import Any

MIB = 1024 * 1024


@dataclass(frozen=True)
class DecodeLimits:
    """Caps on one upload's structure and on what decoding it may cost."""

    max_dimension: int = 8000
    max_pixels: int = 64_000_000
    # JPEG: scans, and block visits summed over scans (the cost of a progressive decode).
    max_jpeg_scans: int = 64
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
    # The most one decode may get, enforced by the kernel (see inference_api.sandbox);
    # each upload gets what its header earns under these ceilings (imaging/cost.py).
    cpu_seconds: float = 3.0
    memory_bytes: int = 768 * MIB
    wall_seconds: float = 9.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "DecodeLimits":
        return cls(**values)

    @classmethod
    def from_settings(cls) -> "DecodeLimits":
        """The limits the running configuration sets (imports Django's settings)."""
        from django.conf import settings

        return cls(
            max_dimension=settings.MAX_IMAGE_DIMENSION,
            max_pixels=settings.MAX_IMAGE_PIXELS,
            max_jpeg_scans=settings.MAX_JPEG_SCANS,
            cpu_seconds=settings.DECODE_CPU_SECONDS,
            memory_bytes=settings.DECODE_MEMORY_BYTES,
            wall_seconds=settings.DECODE_WALL_SECONDS,
        )


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
