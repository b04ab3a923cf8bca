from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    """The model side: export, storage, integrity, preprocessing, prediction."""

    name = "analysis"
    verbose_name = "Analysis"
