"""Every parameter, bad values: exit 2 and one line that names it; never a traceback, never a file.

A new parameter in library.yaml fails test_every_parameter_has_bad_values until it gets some."""
from __future__ import annotations

import pytest

from connector.cli import main
from connector.params import load_arguments

GOOD = {"token": "tok", "url": "http://127.0.0.1:9", "org": "o", "bucket": "b", "measurement": "m",
        "time_col": "t", "range_start": "2024-01-01", "range_end": "2024-01-02"}

BAD: dict[str, list[str]] = {
    "token": ["tok\nen", "a\x00b"],
    "url": ["", "ftp://h", "http://", "localhost:8086", "http://u:p@h:1", "h t t p"],
    "org": ["", "o\nrg"],
    "bucket": ["", "b\x07"],
    "measurement": [""],
    "time_col": [""],
    "range_start": ["yesterday", "-1q", "2024-13-01", "2024-02-30T00:00:00Z", "3000-01-01", "2024-01-03"],
    "range_end": ["tomorrow", "1d", "2023-12-31", "2024-01-01"],
    "file_name": ["out.txt", "../x.csv", "dir/x.csv", ".csv", ".hidden.csv", "x.csv.bak"],
    "local_dir": [],  # any path is a folder to create; a file there fails at run time (exit 1)
    "cnvrg_dataset": [],  # any name is a dataset name; cnvrg says no at upload time (exit 1)
    "api": ["v3", "flux", "2"],
    "fields": ["a,,b", ",", "a,a"],
    "tags": ["x,,y", "u,u"],
    "tag_filter": ["unit", "=u1", "unit=", "a=1,b"],
    "rename": ["unit", "unit:", ":id", "a:b,a:c"],
    "window": ["soon", "0s", "-1h", "1x"],
    "workers": ["0", "17", "two", "1.5"],
    "retries": ["-1", "101", "many", "2.5"],
    "timeout": ["0", "-5", "forever", "nan", "inf"],
    "verify_ssl": ["maybe", "2"],
    "ssl_ca_cert": ["/no/such/ca.pem"],
    "time_format": ["unix", "rfc3339", "none-ish"],
    "timezone": ["Mars/Olympus", "+25:00", "UTC+1"],
    "every": ["1mo", "1y", "soon", "0s"],
    "agg": ["avg", "p99"],
    "fill": ["linear", "zero", "0"],
    "mode": ["upsert", "replace"],
    "profile": ["perhaps"],
    "gap_factor": ["0", "0.5", "big", "-3"],
    "label_field": [],  # any name is a field name; an unknown one fails once the fields are known
    "plot": ["sometimes"],
    "dry_run": ["yes please"],
    "verbose": ["loud"],
}


def test_every_parameter_has_bad_values():
    keys = {a.key for a in load_arguments()}
    assert sorted(keys - set(BAD)) == [], "add bad values for the new parameter(s) above"
    assert sorted(set(BAD) - keys) == []


CASES = [(key, value) for key, values in BAD.items() for value in values]


@pytest.mark.parametrize("key, value", CASES, ids=[f"{k}={v!r}" for k, v in CASES])
def test_a_bad_value_exits_2_with_one_line_naming_the_parameter(key, value, capsys, tmp_path):
    params = {**GOOD, "local_dir": str(tmp_path), key: value}
    assert main([f"--{k}={v}" for k, v in params.items()]) == 2
    out = capsys.readouterr()
    lines = out.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.err
    assert key in lines[0] or (key == "range_end" and "range_start" in lines[0]), lines[0]
    assert "Traceback" not in out.err + out.out
    if key == "token":
        assert value not in out.err + out.out and repr(value)[1:-1] not in out.err + out.out
    assert list(tmp_path.iterdir()) == []
