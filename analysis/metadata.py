"""What a model file says about itself: the single source of preprocessing.

The metadata travels inside the TorchScript file (as an extra file), so the
server cannot preprocess differently from how the model was exported.
"""

import json
from dataclasses import asdict, dataclass

METADATA_FILE = "metadata.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModelMetadata:
    """How to feed the model and how to read its output."""

    name: str
    version: str
    input_size: int
    resize_size: int
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    labels: tuple[str, ...]
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelMetadata":
        """Parse and check metadata; raises ValueError on anything unexpected."""
        raw = json.loads(text)
        if raw.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported metadata format {raw.get('format_version')!r}")
        metadata = cls(
            name=str(raw["name"]),
            version=str(raw["version"]),
            input_size=int(raw["input_size"]),
            resize_size=int(raw["resize_size"]),
            interpolation=str(raw["interpolation"]),
            mean=tuple(float(v) for v in raw["mean"]),
            std=tuple(float(v) for v in raw["std"]),
            labels=tuple(str(label) for label in raw["labels"]),
        )
        metadata.check()
        return metadata

    def check(self) -> None:
        if not 0 < self.input_size <= self.resize_size <= 4 * self.input_size:
            raise ValueError("input and resize sizes are inconsistent")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError("mean and std need three channels, std positive")
        if self.interpolation not in ("bicubic", "bilinear"):
            raise ValueError(f"unknown interpolation {self.interpolation!r}")
        if not self.labels:
            raise ValueError("no labels")
