"""Fetch the model file from storage, check its hash, load it once per process.

Nothing is loaded at import time. `get_model()` is safe to call from many
threads: the first caller loads while the others wait on the lock. The file
is copied from the `models` storage into a local cache and its SHA-256 is
compared with the pinned value before torch ever reads it, since loading a
TorchScript file runs code from it.
"""

import hashlib
import logging
import os
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from django.conf import settings
from django.core.files.storage import Storage, storages

from .errors import ModelFormatError, ModelIntegrityError, ModelUnavailable
from .export import sidecar_name
from .metadata import METADATA_FILE, ModelMetadata

logger = logging.getLogger(__name__)

# TorchScript is deprecated in torch 2.14 in favour of torch.export, but it is
# the design's self-describing model format; the warning says nothing new.
warnings.filterwarnings("ignore", message=r"`torch\.jit\.", category=FutureWarning)

CHUNK = 1024 * 1024
# After a failed load, wait this long before touching storage again, so a
# flood of requests cannot hammer a storage that is down.
RETRY_AFTER_SECONDS = 5.0
# Forward passes at load: TorchScript's executor profiles the first and builds
# its plan on the second (oneDNN's fused kernels: 90-150 ms); their first runs
# are slow too, and the plan runs at speed from the fourth or fifth. Done at
# load, in gunicorn's master, it is shared with the workers: no request pays.
WARM_UP_PASSES = 5


@dataclass(frozen=True)
class LoadedModel:
    """A verified, loaded model and what it says about itself."""

    module: torch.jit.ScriptModule
    metadata: ModelMetadata
    sha256: str

    def describe(self) -> dict:
        return {"name": self.metadata.name, "version": self.metadata.version, "sha256": self.sha256}


def expected_sha256(storage: Storage, name: str) -> str:
    """The pinned hash: MODEL_SHA256, else the one recorded next to the file at export."""
    if settings.MODEL_SHA256:
        return settings.MODEL_SHA256.strip().lower()
    try:
        with storage.open(sidecar_name(name), "rb") as sidecar:
            return sidecar.read(200).decode("ascii").strip().lower()
    except Exception as exc:
        raise ModelUnavailable(f"no pinned hash: MODEL_SHA256 unset and {exc!r}") from exc


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_to_cache(storage: Storage, name: str, expected: str, cache_dir: Path) -> Path:
    """A local copy of the model whose SHA-256 is `expected`; raises on mismatch."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    cached = cache_dir / f"{expected}.pt"
    if cached.exists() and _sha256_of(cached) == expected:
        return cached
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=cache_dir, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, storage.open(name, "rb") as source:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
        actual = digest.hexdigest()
        if actual != expected:
            logger.error(
                "Model file %r refused: SHA-256 %s does not match the pinned %s",
                name,
                actual,
                expected,
            )
            raise ModelIntegrityError(f"SHA-256 mismatch for {name}")
        os.replace(tmp_name, cached)
        return cached
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def load_verified(path: Path, sha256: str) -> LoadedModel:
    """Load a hash-checked TorchScript file and warm it up (`WARM_UP_PASSES` forward passes)."""
    extra = {METADATA_FILE: ""}
    try:
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        metadata = ModelMetadata.from_json(extra[METADATA_FILE])
    except Exception as exc:
        raise ModelFormatError(f"cannot load {path.name}: {exc}") from exc
    module.eval()
    # Channels-last, as analysis.preprocessing.to_tensor makes the requests' input.
    warm = torch.zeros(1, 3, metadata.input_size, metadata.input_size).to(
        memory_format=torch.channels_last
    )
    with torch.inference_mode():
        for _ in range(WARM_UP_PASSES):
            logits = module(warm)
    if tuple(logits.shape) != (1, len(metadata.labels)):
        raise ModelFormatError(f"output shape {tuple(logits.shape)} does not match the labels")
    return LoadedModel(module=module, metadata=metadata, sha256=sha256)


def load_model(*, storage: Storage | None = None, name: str | None = None) -> LoadedModel:
    """Fetch, verify and load the configured model (no caching across calls)."""
    storage = storage or storages["models"]
    name = name or settings.MODEL_FILE_NAME
    torch.set_num_threads(settings.TORCH_THREADS)
    torch.jit.enable_onednn_fusion(settings.TORCH_ONEDNN_FUSION)
    expected = expected_sha256(storage, name)
    try:
        path = fetch_to_cache(storage, name, expected, Path(settings.MODEL_CACHE_DIR))
    except ModelUnavailable:
        raise
    except Exception as exc:
        raise ModelUnavailable(f"cannot fetch {name}: {exc!r}") from exc
    return load_verified(path, expected)


class _ModelHolder:
    """The one model of this process, loaded on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model: LoadedModel | None = None
        self._failed_at = float("-inf")

    def get(self) -> LoadedModel:
        model = self._model
        if model is not None:
            return model
        with self._lock:
            if self._model is not None:
                return self._model
            if time.monotonic() - self._failed_at < RETRY_AFTER_SECONDS:
                raise ModelUnavailable("model load failed recently; waiting before retrying")
            try:
                self._model = load_model()
            except ModelUnavailable as exc:
                self._failed_at = time.monotonic()
                logger.error("Model unavailable: %s", exc)
                raise
            logger.info(
                "Model %s loaded (sha256 %s)", self._model.metadata.version, self._model.sha256
            )
            return self._model

    def loaded(self) -> bool:
        return self._model is not None

    def reset(self) -> None:
        with self._lock:
            self._model = None
            self._failed_at = float("-inf")


_holder = _ModelHolder()


def get_model() -> LoadedModel:
    """This process's model, loading it on first use; raises ModelUnavailable."""
    return _holder.get()


def model_loaded() -> bool:
    """Whether this process has a model loaded (for readiness checks)."""
    return _holder.loaded()


def reset_model() -> None:
    """Forget the loaded model and any recent failure (tests, reloads)."""
    _holder.reset()
