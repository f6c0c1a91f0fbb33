"""Probing the embedded model in a child process before a run, so that a native crash of
llama.cpp becomes one clear error instead of a bare exit 139.

A llama-cpp-python wheel built natively (``pip install`` with no ``CMAKE_ARGS``) on a CPU that
advertises AVX-512/AMX can die with SIGSEGV or SIGILL on its first evaluation. The probe loads the
model the way the decider does (:func:`~evalharness.deciders.llama_load.load_llama`, run from its
file so the child imports nothing else of evalharness) and evaluates one token, within a timeout.
A probe that passed is remembered per llama.cpp build, model file, thread count and CPU in
``native_probe.json`` in the cache folder, so only the first run pays for it; a failure is never
remembered.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path

from ..inputs.config import default_cache_dir
from ..records.errors import DeciderError

__all__ = ["PORTABLE_CMAKE_ARGS", "probe_embedded"]

PROBE_TIMEOUT_S = 180.0
"""How long the probe may take to load the model and evaluate one token."""
PROBE_FILE = "native_probe.json"
PORTABLE_CMAKE_ARGS = ("-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON "
                       "-DGGML_F16C=ON -DGGML_AVX512=OFF")
"""The Makefile's portable build flags for llama-cpp-python."""
_CRASHES = {signal.SIGSEGV, signal.SIGILL, signal.SIGBUS, signal.SIGFPE, signal.SIGABRT}

_CHILD = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("_evalharness_llama_load", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
llm = module.load_llama(model_path=sys.argv[2], n_ctx=64, n_threads=int(sys.argv[3]),
                        logits_all=False, verbose=False)
llm.eval(llm.tokenize(b"Hello", add_bos=True, special=False))
import llama_cpp
llama_cpp.llama_get_logits_ith(llm.ctx, -1)[0]
llm.close()
print("ok")
"""


def _probe_file() -> Path:
    """In the response cache's default folder."""
    return default_cache_dir() / PROBE_FILE


def _stat(path: Path) -> list[object]:
    st = path.stat()
    return [str(path), st.st_size, st.st_mtime_ns]


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return hashlib.sha256(line.encode()).hexdigest()[:16]
    except OSError:
        pass
    return ""


def probe_key(model_path: Path, threads: int) -> str:
    """What a passed probe depends on: the llama-cpp-python version and its native libraries
    (a reinstall changes them), the model file, the thread count, the CPU and the interpreter."""
    try:
        llama_version = version("llama-cpp-python")
    except PackageNotFoundError:
        llama_version = ""
    spec = find_spec("llama_cpp")
    libs: list[object] = []
    for folder in (spec.submodule_search_locations or []) if spec else []:
        libs += [_stat(p) for p in sorted((Path(folder) / "lib").glob("*.so*"))]
    blob = json.dumps([llama_version, libs, _stat(model_path.resolve()), threads, _cpu_flags(),
                       sys.executable])
    return hashlib.sha256(blob.encode()).hexdigest()


def _passed(key: str) -> bool:
    try:
        return key in json.loads(_probe_file().read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False


def _remember(key: str, seconds: float) -> None:
    """Record a passed probe; a cache folder that cannot be written only means probing again."""
    path = _probe_file()
    try:
        known = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        if not isinstance(known, dict):
            known = {}
        known[key] = {"seconds": round(seconds, 3), "at": time.time()}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known, indent=1), encoding="utf-8")
        os.replace(tmp, path)
    except (OSError, ValueError):
        pass


def _crash_error(decider: str, sig: int) -> DeciderError:
    name = signal.Signals(sig).name
    if sig in _CRASHES:
        cause = ("llama-cpp-python crashed natively on the first model evaluation "
                 f"({name}): it was most likely built for this CPU's AVX-512/AMX instructions")
    else:
        cause = f"the llama.cpp probe process was killed ({name}), e.g. out of memory"
    return DeciderError(
        cause, field=f"deciders.{decider}",
        fix=f'reinstall it with the portable flags of the Makefile: CMAKE_ARGS="{PORTABLE_CMAKE_ARGS}" '
            "pip install --no-cache-dir --force-reinstall llama-cpp-python")


def probe_embedded(decider: str, model_path: Path, *, threads: int,
                   timeout_s: float = PROBE_TIMEOUT_S) -> float:
    """Load ``model_path`` and evaluate one token in a child process, unless that passed before
    on this build; returns the seconds spent (0.0 when remembered). Raises :class:`DeciderError`
    (exit 2, one line naming the cause and the fix) when the child crashes, fails or hangs."""
    key = probe_key(model_path, threads)
    if _passed(key):
        return 0.0
    start = time.perf_counter()
    loader = Path(__file__).with_name("llama_load.py")
    try:
        child = subprocess.run(
            [sys.executable, "-c", _CHILD, str(loader), str(model_path), str(threads)],
            capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise DeciderError(
            f"loading the embedded model and evaluating one token took over {timeout_s:.0f} s",
            file=str(model_path), field=f"deciders.{decider}",
            fix="check the model file and the machine's load, then run again") from None
    if child.returncode < 0:
        raise _crash_error(decider, -child.returncode)
    if child.returncode != 0 or child.stdout.strip() != "ok":
        last = (child.stderr.strip().splitlines() or [f"exit {child.returncode}"])[-1]
        raise DeciderError(f"the embedded model failed to load: {last[:300]}",
                           file=str(model_path), field=f"deciders.{decider}",
                           fix="check that the file is a GGUF model llama.cpp can read")
    seconds = time.perf_counter() - start
    _remember(key, seconds)
    return seconds
