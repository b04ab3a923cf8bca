"""The upload boundary: steps 2 and 3 of the request pipeline. Open `checks.py` first.

`body` caps what is read of a request body (declared size, streamed bytes);
`form` accepts exactly one file in the field `file`; `checks` decides,
cheapest check first, whether its bytes are an image we accept, then has
the sandboxed decoder (inference_api.sandbox) walk and decode it.
"""
