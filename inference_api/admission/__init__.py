"""Who may call, and how often: step 1 of the request pipeline. Open `gate.py` first.

`gate.admit_client` runs the blocklist (`blocklist`), the API key (`apikeys`)
and the rate limit (`ratelimits`) for every API request. `clients` resolves
the client's address behind trusted proxies; `edge` and `cors` are the
middleware that decide what a request's edge may claim. Automatic blocks are
made by the audit step (`inference_api.audit.autoblock`).
"""
