"""OpenAPI description of the analyze endpoint."""

ANALYZE_SCHEMA: dict = {}
