"""What operators run and watch. Open `checklist.py` first.

`checklist` (with `abuse_checklist`) is the pre-traffic checklist as Django
system checks and `manage.py preflight`; `health` the liveness and
readiness probes; `metrics` the Prometheus metrics and /metrics; `logging`
ties log lines to request ids.
"""
