"""The README cannot drift from library.yaml: its parameter table is generated and checked."""
from pathlib import Path

from scripts.param_table import BEGIN, END, table

ROOT = Path(__file__).resolve().parent.parent


def test_readme_parameter_table_matches_library_yaml():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start, stop = readme.index(BEGIN), readme.index(END) + len(END)
    assert readme[start:stop] == table(), "run: python scripts/param_table.py and paste it into README.md"


def test_readme_starts_with_the_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```bash", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in block.strip().splitlines()] == ["./run_demo.sh", "./run_tests.sh"]
    assert (ROOT / "run_demo.sh").exists() and (ROOT / "run_tests.sh").exists()
