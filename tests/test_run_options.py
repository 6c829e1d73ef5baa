"""dry_run, progress and --help: what a person at a terminal or in a cnvrg job sees."""
from __future__ import annotations

import logging

import pytest

from connector.cli import main
from connector_log import attached
from connector.progress import Progress

ARGS = ["--token", "tok-SEKRET-1", "--url", "http://127.0.0.1:9", "--org", "o", "--bucket", "b",
        "--measurement", 'm"x', "--time_col", "t", "--range_start", "2024-01-01", "--range_end", "2024-01-02"]


def test_dry_run_prints_settings_and_exact_queries_without_connecting(capsys):
    assert main(ARGS + ["--dry_run", "True", "--api", "v1", "--fields", "a", "--every", "1h"]) == 0
    out = capsys.readouterr()
    assert out.err == ""
    assert '"token": "***"' in out.out and "tok-SEKRET-1" not in out.out
    assert 'SHOW TAG KEYS FROM "m\\"x"' in out.out
    assert ('SELECT mean("a") AS "a" FROM "m\\"x" WHERE time >= 1704067200000000000 AND '
            'time < 1704153600000000000 GROUP BY time(1h), * fill(none); SHOW FIELD KEYS FROM "m\\"x"') in out.out


def test_dry_run_with_api_auto_shows_both_query_languages(capsys):
    assert main(ARGS + ["--dry_run", "True"]) == 0
    out = capsys.readouterr().out
    assert "queries, 2.x (Flux), if /ping says so" in out and "queries, 1.x (InfluxQL), if /ping says so" in out
    assert '|> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")' in out


def test_help_groups_every_parameter(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    assert caught.value.code == 0
    text = capsys.readouterr().out
    for group in ("connection:", "what to export:", "output:", "profile:", "run:"):
        assert group in text
    assert "--gap_factor VALUE" in text and "(default 5)" in text


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_progress_logs_a_line_every_few_seconds_without_a_terminal(monkeypatch):
    import connector.progress as progress

    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)
    handler = _Lines()
    with attached(handler, logging.INFO):
        bar = Progress(0, 1000, interactive=False)
        bar.update(250, 1_000)
        bar.update(1000, 3_000)
    lines = handler.lines
    assert lines[0].startswith("25% of the range done (up to 1970-01-01T00:00:00.000000250Z): 1,000 rows, ")
    assert lines[1].startswith("100% of the range done (up to 1970-01-01T00:00:00.000001000Z): 4,000 rows, ")


def test_progress_bar_on_a_terminal(capsys):
    pytest.importorskip("tqdm")
    bar = Progress(0, 1000, interactive=True)
    bar.update(500, 10)
    bar.close()
    assert "exporting" in capsys.readouterr().err
