"""The HTTP probes operators and orchestrators call: `/healthz`, `/readyz`, `/metrics`.

`health` answers liveness and readiness; `metrics` serves the Prometheus
metrics that `inference_api.operations.metrics` counts. Nothing here runs a
request step; the pre-traffic checklist is `inference_api.operations`.
"""
