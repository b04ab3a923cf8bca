"""analysis/labels.py: the ImageNet class names the export writes into the model's metadata."""

from torchvision.models import EfficientNet_B0_Weights

from analysis.labels import imagenet_labels


def test_the_labels_are_torchvisions_published_imagenet_categories():
    # A weights enum's `meta["categories"]` is torchvision's public list of them.
    published = EfficientNet_B0_Weights.IMAGENET1K_V1.meta["categories"]
    assert imagenet_labels() == tuple(published)


def test_output_967_is_espresso():
    labels = imagenet_labels()
    assert len(labels) == 1000 and labels[967] == "espresso"
