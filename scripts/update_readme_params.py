"""Rewrite the README's parameter table from library.yaml (what tests/test_docs.py checks)."""
from pathlib import Path

from param_table import BEGIN, END, table

readme = Path(__file__).resolve().parent.parent / "README.md"
text = readme.read_text(encoding="utf-8")
start, stop = text.index(BEGIN), text.index(END) + len(END)
readme.write_text(text[:start] + table() + text[stop:], encoding="utf-8")
