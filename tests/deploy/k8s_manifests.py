"""deploy/k8s rendered as kustomize would, for the tests: a small loader of the plain YAML.

The base uses only `resources:`, `namespace:` and `labels:` (no patches, no
generators), so following those three is the whole rendering.
"""

from pathlib import Path

import yaml

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"


def kustomization() -> dict:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def render(folder: Path = K8S) -> list[dict]:
    """Every object of the base, with the kustomization's namespace and labels applied."""
    spec = yaml.safe_load((folder / "kustomization.yaml").read_text())
    extra_labels = {}
    for entry in spec.get("labels", []):
        extra_labels.update(entry["pairs"])
    objects = []
    for name in spec["resources"]:
        for document in yaml.safe_load_all((folder / name).read_text()):
            if not document:
                continue
            metadata = document.setdefault("metadata", {})
            if document["kind"] != "Namespace" and "namespace" in spec:
                metadata["namespace"] = spec["namespace"]
            metadata.setdefault("labels", {}).update(extra_labels)
            objects.append(document)
    return objects


def one(objects: list[dict], kind: str, name: str | None = None) -> dict:
    """The single object of this kind (and name)."""
    found = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, f"{len(found)} objects of kind {kind} {name or ''}"
    return found[0]


def example_secret() -> dict:
    return yaml.safe_load((K8S / "secret.example.yaml").read_text())
