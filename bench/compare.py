"""The plain FastAPI service the API is compared with, and how the bench runs it.

What a user would write instead of this project: FastAPI, the upload read
whole, Pillow opens and converts it, the short side resized to 256 and the
centre 224 square cut (bicubic), the same TorchScript file as the service's
(loaded and hash-checked by `analysis.model_store.load_verified`), the same
normalisation (`analysis.preprocessing.to_tensor`, which makes the
channels-last tensor the served graph is fastest on), top-5 labels in JSON.
The sizes and the interpolation are read from the model file's metadata, as
the service reads them. One uvicorn worker, one torch thread (the service's
TORCH_THREADS), the work done inline in an async endpoint, so one request at
a time, as in a sync gunicorn worker. TorchScript as it comes: the service
turns on oneDNN's fusion where it loads the model (`load_model`,
TORCH_ONEDNN_FUSION), a plain service would not. No checks, no sandbox, no
audit, no rate limit: what those cost the service is the difference.

    uvicorn bench.compare:app      # BENCH_MODEL_FILE=<the .pt file> in the environment
"""

import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def build_app():
    """The FastAPI application, on the model file named by BENCH_MODEL_FILE."""
    import torch
    from fastapi import FastAPI, File, UploadFile
    from PIL import Image

    from analysis.model_store import load_verified
    from analysis.preprocessing import to_tensor

    path = Path(os.environ["BENCH_MODEL_FILE"])
    sha256 = Path(f"{path}.sha256").read_text().strip()
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))
    model = load_verified(path, sha256)
    metadata = model.metadata
    resample = getattr(Image.Resampling, metadata.interpolation.upper())
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.post("/api/v1/analyze/")
    async def analyze(file: UploadFile = File(...)) -> dict:  # noqa: B008 - FastAPI's idiom
        image = Image.open(io.BytesIO(await file.read())).convert("RGB")
        width, height = image.size
        scale = metadata.resize_size / min(width, height)
        image = image.resize((round(width * scale), round(height * scale)), resample)
        crop = metadata.input_size
        left, top = (image.width - crop) // 2, (image.height - crop) // 2
        image = image.crop((left, top, left + crop, top + crop))
        with torch.inference_mode():
            scores = model.module(to_tensor(image, metadata)).softmax(dim=1)[0]
        top5 = torch.topk(scores, 5)
        return {
            "predictions": [
                {"label": metadata.labels[i], "score": float(s)}
                for s, i in zip(top5.values, top5.indices, strict=True)
            ]
        }

    return app


@contextmanager
def fastapi_server(model_file: Path, env: dict[str, str]) -> Iterator:
    """The plain service under uvicorn (one worker) on a free loopback port."""
    import tempfile

    from inference_api.testing.servers import free_port, served

    port = free_port()
    full_env = {**os.environ, **env, "BENCH_MODEL_FILE": str(model_file), "TORCH_THREADS": "1"}
    command = [str(BIN / "uvicorn"), "bench.compare:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "1", "--log-level", "warning"]
    with tempfile.TemporaryDirectory(prefix="fastapi-") as tmp:
        log_path = Path(tmp) / "server.log"
        with served(command, cwd=REPO, env=full_env, port=port, log_path=log_path) as server:
            yield server


def __getattr__(name: str):
    """`bench.compare:app` for uvicorn, built on first access (not when the bench imports this)."""
    if name == "app":
        return build_app()
    raise AttributeError(name)
