"""The served graph, optimised for the CPU, answers as the plain traced graph does.

The optimised graph is the exported file, loaded by the server's own loader
(with oneDNN's fusion, as served) and fed the channels-last tensor
`to_tensor` makes; the plain one is the same network traced and frozen as
it comes (`plain_torchscript`), fed the NCHW tensor it was served before,
and run without the fusion. Both run at batch 1, as the server does.
Inputs: the labelled photographs of test_accuracy.py, and every valid image
of the corpus made into the model's square by the decoder's own `prepare`.

Tolerance: 1e-4 on every class's probability. The two graphs do the same
arithmetic in another order (NHWC convolutions, padding inside the
convolution, oneDNN's fused kernels), so they differ by float32 rounding:
at most 1.2e-6 measured.
The top-1 and top-5 labels must be the same, in the same order, except
between classes whose scores are within 1e-5 of each other: the corpus's
plain red squares (several of its APNGs) have two of their top six classes
9e-7 apart, an order that rounding on another CPU could flip.
"""

import io

import pytest
import torch
from PIL import Image
from skimage import data

from analysis.export import build_network, plain_torchscript
from analysis.model_store import WARM_UP_PASSES, LoadedModel
from analysis.preprocessing import preprocess, to_tensor
from inference_api.testing import corpus

PROBABILITY_TOLERANCE = 1e-4
TIE = 1e-5
PHOTOS = ("chelsea", "coffee", "rocket", "astronaut")


def valid_corpus_files() -> list[str]:
    return [row["file"] for row in corpus.manifest() if row["expected"] == "accept"]


VALID_FILES = valid_corpus_files()


@pytest.fixture(scope="session")
def plain_module(model: LoadedModel) -> torch.jit.ScriptModule:
    """The network traced and frozen as it comes, saved and loaded back, run unfused.

    The fusion switch is the process's and read when a graph's plan is built,
    on its first passes: those run with it off, so this graph's plan stays plain.
    """
    saved = plain_torchscript(build_network(), model.metadata)
    module = torch.jit.load(io.BytesIO(saved), map_location="cpu").eval()
    was = torch.jit.onednn_fusion_enabled()
    torch.jit.enable_onednn_fusion(False)
    try:
        with torch.inference_mode():
            for _ in range(WARM_UP_PASSES):
                module(torch.zeros(1, 3, model.metadata.input_size, model.metadata.input_size))
        assert "prim::oneDNNFusionGroup" not in str(torch.jit.last_executed_optimized_graph())
    finally:
        torch.jit.enable_onednn_fusion(was)
    return module


def probabilities(module: torch.jit.ScriptModule, batch: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return module(batch).softmax(dim=-1)[0]


def assert_same_answers(plain_module, model: LoadedModel, batch: torch.Tensor) -> None:
    assert batch.shape[0] == 1 and batch.is_contiguous(memory_format=torch.channels_last)
    plain = probabilities(plain_module, batch.contiguous())
    fast = probabilities(model.module, batch)
    assert (plain - fast).abs().max().item() <= PROBABILITY_TOLERANCE
    expected, found = plain.topk(5).indices.tolist(), fast.topk(5).indices.tolist()
    for rank, (wanted, got) in enumerate(zip(expected, found, strict=True)):
        # Classes the plain graph itself scores within the tolerance are a tie.
        tie = abs(plain[wanted] - plain[got]).item() <= TIE
        assert wanted == got or tie, f"rank {rank + 1}: {expected} against {found}"


@pytest.mark.parametrize("name", PHOTOS)
def test_it_answers_as_the_plain_graph_on_the_labelled_photos(plain_module, model, name):
    photo = Image.fromarray(getattr(data, name)()).convert("RGB")
    assert_same_answers(plain_module, model, preprocess(photo, model.metadata))


@pytest.mark.parametrize("name", VALID_FILES or [pytest.param(None, id="corpus")])
def test_it_answers_as_the_plain_graph_on_the_valid_corpus_images(
    plain_module, model, corpus_dir, name
):
    from inference_api.imaging.limits import DecodeLimits, ModelInput
    from inference_api.imaging.prepare import prepare

    data = (corpus_dir / name).read_bytes()
    prepared = prepare(data, DecodeLimits.from_settings(), ModelInput.of(model.metadata))
    square = Image.frombytes("RGB", (prepared.size, prepared.size), prepared.pixels)
    assert_same_answers(plain_module, model, to_tensor(square, model.metadata))


def test_the_served_graph_is_rewritten_and_keeps_no_mkldnn(model):
    graph = str(model.module.graph)
    assert "aten::hardtanh_" in graph and "aten::hardtanh(" not in graph
    # Every padding is inside its convolution, the stride-2 ones' asymmetric ones too.
    assert "aten::pad" not in graph and "aten::constant_pad_nd" not in graph
    assert "mkldnn" not in graph.lower()
