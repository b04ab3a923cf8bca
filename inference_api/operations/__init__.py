"""What operators run and watch. Open `checklist.py` first.

`checklist` (with `access_checklist`) is the pre-traffic checklist as Django
system checks and `manage.py preflight`; `metrics` counts the Prometheus
metrics; `logging` ties log lines to request ids. The HTTP probes that
serve health and metrics are `inference_api.probes`.
"""
