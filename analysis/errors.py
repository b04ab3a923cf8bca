"""Errors of the model side. Each has a stable `code`; none carries HTTP."""


class AnalysisError(Exception):
    """Base class: something on the model side went wrong."""

    code = "analysis_error"


class ModelUnavailable(AnalysisError):
    """The model cannot be served now (not exported, storage down, refused)."""

    code = "model_unavailable"


class ModelIntegrityError(ModelUnavailable):
    """The model file's SHA-256 is not the pinned one: it is never loaded."""

    code = "model_integrity"


class ModelFormatError(ModelUnavailable):
    """The file loaded but is not a model this service can describe or run."""

    code = "model_format"
