"""pyarrow.compute, imported on first use.

Its import builds a Python wrapper for each of Arrow's ~300 compute functions: about 25 ms
of every start. An unquoted answer's rows are located and copied as bytes by the C
kernels without any of them, so a plain export never pays it; the Arrow path (a quoted
answer, Parquet, resampled or append runs) imports it the first time it calls one.
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
