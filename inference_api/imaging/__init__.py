"""Image bytes in, the model's input out: the checks and the decode, with no Django in them.

This package runs inside the decoder process (inference_api.sandbox), which
imports neither Django nor torch; its entry is `prepare.prepare`.
"""
