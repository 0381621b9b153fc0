"""Encode once, ops, decode once: the op registry, chunked streaming, the post-step plan, the pipeline."""
