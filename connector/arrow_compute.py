"""pyarrow.compute, imported on first use.

Its import builds a Python wrapper, with a scraped docstring, for each of Arrow's ~300
compute functions: 25-40 ms, holding the GIL, so every thread of the export waits it out.
An unquoted answer's rows are located and copied as bytes by the C kernels without any of
them, so a plain export never pays it; the Arrow path (a quoted answer, Parquet, resampled
or append runs) imports it the first time it calls one. `call_function` reaches one
function by name through the module's Cython core (~5 ms to import) for the hot paths.
"""
from __future__ import annotations

import importlib
from typing import Any


class _OnFirstUse:
    """Stands for pyarrow.compute: the first use of a name imports the module and keeps the
    name here, so later uses are plain attribute reads."""

    def __getattr__(self, name: str) -> Any:
        value = getattr(importlib.import_module("pyarrow.compute"), name)
        setattr(self, name, value)
        return value


pc: Any = _OnFirstUse()


def call_function(name: str, args: list[Any]) -> Any:
    """pyarrow.compute.call_function, without importing pyarrow.compute."""
    try:
        from pyarrow._compute import call_function as call
    except ImportError:  # a pyarrow that keeps it elsewhere: the public module has it too
        call = pc.call_function
    return call(name, args)
