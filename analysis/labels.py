"""The 1000 ImageNet-1k class names, in the order of the classifier's outputs.

They ship with the code as a data file, `imagenet_labels.txt` (line i names
output i): nothing is downloaded, and no library's internals are read. The
export writes them into the model file's metadata, from which the service
reads them at run time (`analysis.metadata`). tests/analysis/test_labels.py
holds the file to torchvision's published ImageNet categories.
"""

from pathlib import Path

LABELS_FILE = Path(__file__).with_name("imagenet_labels.txt")
IMAGENET_CLASSES = 1000


def imagenet_labels() -> tuple[str, ...]:
    """The ImageNet-1k label names, index i for output i."""
    labels = tuple(LABELS_FILE.read_text(encoding="utf-8").splitlines())
    if len(labels) != IMAGENET_CLASSES:
        raise RuntimeError(f"expected {IMAGENET_CLASSES} ImageNet labels, found {len(labels)}")
    return labels
