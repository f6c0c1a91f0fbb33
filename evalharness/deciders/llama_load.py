"""Loading a GGUF model with llama.cpp so that it cannot take the process down on CPUs that
advertise AMX.

llama.cpp's "extra buffer types" (the CPU AMX and repacked-weight paths) segfault on some VMs
whose CPUs advertise AVX-512/AMX when llama-cpp-python was built natively (``pip install`` with
no flags); this repository's Makefile builds with portable flags, but a user's own install may
not. ``Llama()`` has no argument for ``use_extra_bufts``, so its model parameters are given with
that switch off while the model loads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["load_llama"]


@contextmanager
def _without_extra_buffer_types() -> Iterator[None]:
    import llama_cpp.llama_cpp as lib

    default = lib.llama_model_default_params

    def params() -> Any:
        p = default()
        p.use_extra_bufts = False
        return p

    lib.llama_model_default_params = params
    try:
        yield
    finally:
        lib.llama_model_default_params = default


def load_llama(**kwargs: Any) -> Any:
    """``llama_cpp.Llama(**kwargs)`` with llama.cpp's extra CPU buffer types (AMX) off."""
    from llama_cpp import Llama

    with _without_extra_buffer_types():
        llm = Llama(**kwargs)
    if getattr(llm.model_params, "use_extra_bufts", False):
        raise RuntimeError("llama.cpp loaded the model with extra buffer types on")
    return llm
