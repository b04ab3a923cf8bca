"""The served graph against the plain traced one: the forward pass, side by side.

Both graphs are built here from the same network (`analysis.export`:
`plain_torchscript`, the graph as traced and frozen, and `to_torchscript`,
the one the export writes), saved and loaded back as a file would be, and run
at batch 1 on the model's input for a real photograph, with the torch threads
the server uses (TORCH_THREADS). Three ways, in turns, round after round
(the order rotating), so that all of them see the same background load:

- the plain graph on the NCHW tensor `to_tensor` made before (the old serving);
- the plain graph on the channels-last tensor `to_tensor` makes now (what the
  input's layout alone does);
- the served graph on the channels-last tensor (the serving now).

    .venv/bin/python -m bench.graph [--quick]   # this part alone, printed
"""

import io
import time

from bench import common

WAYS = {
    "plain": "plain graph, NCHW input (before)",
    "plain_channels_last": "plain graph, channels-last input",
    "served": "served graph, channels-last input (now)",
}
WARM_UP = 10


def graphs() -> tuple:
    """The plain and the served graph, each saved and loaded back; the metadata."""
    import torch

    from analysis.export import build_network, model_metadata, plain_torchscript, to_torchscript

    network, metadata = build_network(), model_metadata()
    loaded = [
        torch.jit.load(io.BytesIO(save(network, metadata)), map_location="cpu").eval()
        for save in (plain_torchscript, to_torchscript)
    ]
    return loaded[0], loaded[1], metadata


def photo_batch(metadata):
    """The model's input for scikit-image's cat, as the server makes it (channels-last)."""
    from PIL import Image
    from skimage import data

    from analysis.preprocessing import preprocess

    return preprocess(Image.fromarray(data.chelsea()), metadata)


def measure(rounds: int) -> dict:
    """Median forward-pass time of each way over `rounds` rounds, and the ratios."""
    import torch
    from django.conf import settings

    torch.set_num_threads(settings.TORCH_THREADS)
    plain, served, metadata = graphs()
    batch = photo_batch(metadata)
    nchw = batch.contiguous()  # what to_tensor made before, outside the timing
    runs = {
        "plain": lambda: plain(nchw),
        "plain_channels_last": lambda: plain(batch),
        "served": lambda: served(batch),
    }
    samples: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    with torch.inference_mode():
        top = {name: int(run().argmax()) for name, run in runs.items()}
        for run in runs.values():
            common.timed(run, WARM_UP)
        for turn in range(rounds):
            for name in names[turn % 3 :] + names[: turn % 3]:
                started = time.perf_counter()
                runs[name]()
                samples[name].append((time.perf_counter() - started) * 1000)
    medians = {name: common.median(found) for name, found in samples.items()}
    paired = [s / p for s, p in zip(samples["served"], samples["plain"], strict=True)]
    return {
        "threads": torch.get_num_threads(),
        "rounds": rounds,
        "median_ms": medians,
        "ratio": medians["served"] / medians["plain"],
        "ratio_paired": common.median(paired),
        "ratio_input_only": medians["plain_channels_last"] / medians["plain"],
        "same_top_label": len({metadata.labels[i] for i in top.values()}) == 1,
        "top_label": metadata.labels[top["served"]],
    }


if __name__ == "__main__":
    import sys
    import warnings

    # As analysis.model_store does: TorchScript's deprecation says nothing new here.
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.", category=FutureWarning)
    common.setup_django()
    found = measure(60 if "--quick" in sys.argv else 300)
    for name, label in WAYS.items():
        sys.stdout.write(f"{label:42s} {found['median_ms'][name]:6.2f} ms\n")
    sys.stdout.write(
        f"served / plain: {found['ratio']:.3f} (paired median {found['ratio_paired']:.3f}); "
        f"input layout alone: {found['ratio_input_only']:.3f}; {found['rounds']} rounds, "
        f"{found['threads']} thread(s); same top label: {found['same_top_label']}\n"
    )
