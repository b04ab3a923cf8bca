import pytest

from analysis.model_store import LoadedModel, load_model


@pytest.fixture(scope="session")
def model(exported_model: str) -> LoadedModel:
    """The real model, loaded through the server's own loader."""
    return load_model()
