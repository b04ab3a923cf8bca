"""The audit trail and the quarantine: step 7 of the request pipeline. Open `trail.py` first.

`trail.audit` is the only writer of audit rows: one per request, built from
the request's `context.RequestRecord`. Flagged uploads' bytes go to `quarantine`,
within the budgets of `quarantine_budget`; each flagged refusal counts
towards an automatic block (`autoblock`). `inflight` keeps the request a
worker is serving where gunicorn's master finds it if the worker dies.
"""
