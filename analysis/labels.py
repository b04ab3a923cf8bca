"""The 1000 ImageNet-1k class names, in the order of the classifier's outputs.

torchvision ships them as data in its source; nothing is downloaded.
"""

from torchvision.models._meta import _IMAGENET_CATEGORIES


def imagenet_labels() -> tuple[str, ...]:
    """The ImageNet-1k label names, index i for output i."""
    labels = tuple(_IMAGENET_CATEGORIES)
    if len(labels) != 1000:
        raise RuntimeError(f"expected 1000 ImageNet labels, found {len(labels)}")
    return labels
