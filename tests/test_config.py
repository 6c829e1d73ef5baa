"""Parameters -> settings: cnvrg's conventions, Secret, and every problem reported at once."""
from pathlib import Path

import pytest

from connector.config import build_settings
from connector.errors import ParameterError
from connector.params import load_arguments, parse_cli

NOW = 1_717_243_200_000_000_000
BASE = dict(token="tok-123", url="http://localhost:8086", org="o", bucket="b",
            measurement="m", time_col="t")


def settings(**changes):
    return build_settings({**BASE, **changes}, environ={}, now=NOW)


def problems(**changes):
    with pytest.raises(ParameterError) as caught:
        build_settings({**BASE, **changes}, environ={}, now=NOW)
    return caught.value.problems


def test_defaults_come_from_library_yaml():
    s = settings()
    assert (s.range_start, s.range_end, s.file_name, s.api, s.window_ns) == ("-10y", "now()", "influxdb.csv", "auto", None)
    assert s.local_dir == Path("/cnvrg")
    assert s.output_format == "csv" and s.fields is None and s.rename == () and s.verbose is False


def test_local_dir_defaults_to_cnvrg_workdir():
    s = build_settings(BASE, environ={"CNVRG_WORKDIR": "/work/x"}, now=NOW)
    assert s.output_path == Path("/work/x/influxdb.csv")


def test_secret_reads_the_environment_in_any_case():
    env = {"INFLUXDB_TOKEN": "t", "INFLUXDB_URL": "https://eu.example.com/", "INFLUXDB_ORG": "acme",
           "INFLUXDB_BUCKET": "plant"}
    s = build_settings({**BASE, "token": "Secret", "url": "SECRET", "org": "secret", "bucket": "sEcReT"},
                       environ=env, now=NOW)
    assert (s.token, s.url, s.org, s.bucket) == ("t", "https://eu.example.com", "acme", "plant")


def test_a_missing_secret_names_the_variable():
    assert problems(token="Secret") == [
        "token is Secret but the environment variable INFLUXDB_TOKEN is not set "
        "(add it under Project > Settings > Secrets)"]


def test_none_means_unset_for_optional_values():
    s = settings(cnvrg_dataset="None", local_dir="NONE", fields="none", rename="None", range_start="None")
    assert s.cnvrg_dataset is None and s.fields is None and s.rename == () and s.range_start == "-10y"


def test_every_problem_is_reported_together():
    found = problems(url="ftp://x", range_start="-1q", file_name="out.txt", window="soon", verbose="maybe",
                     api="v9", bogus="1")
    assert found[0].startswith("unknown parameter(s): bogus; valid: agg, api, bucket")
    text = " | ".join(found)
    for fragment in ("url: 'ftp://x' is not an http:// or https:// URL", "range_start: '-1q' is not a time",
                     "file_name: 'out.txt' must end in one of: .csv.gz, .csv, .parquet",
                     "window: 'soon' is not a duration", "verbose: 'maybe' is not a boolean",
                     "api: 'v9' is not valid; valid values are: auto, v2, v1"):
        assert fragment in text


def test_required_parameters():
    raw = {"token": "t"}
    with pytest.raises(ParameterError) as caught:
        build_settings(raw, environ={}, now=NOW)
    assert caught.value.problems == ["url is required", "bucket is required", "measurement is required",
                                     "time_col is required", "org is required (pass - for the 1.x API)"]
    with pytest.raises(ParameterError, match=r"^token is required"):
        build_settings({k: v for k, v in BASE.items() if k != "token"}, environ={}, now=NOW)


def test_v1_needs_no_org_or_token_but_v2_needs_a_token():
    s = settings(api="v1", token="", org="")
    assert s.token == "" and s.api == "v1"
    assert problems(api="v2", token="") == ["token: InfluxDB 2.x and Cloud need an API token"]


def test_range_must_be_ordered():
    assert problems(range_start="2024-01-02", range_end="2024-01-01") == [
        "range_start (2024-01-02T00:00:00.000000000Z) must be before range_end (2024-01-01T00:00:00.000000000Z)"]


def test_file_name_forms():
    assert settings(file_name="x.csv.gz").output_format == "csv.gz"
    assert settings(file_name="x.CSV").output_format == "csv"
    assert problems(file_name="../x.csv") == ["file_name: '../x.csv' must be a plain file name; put the folder in local_dir"]
    assert problems(file_name=".csv") == ["file_name: '.csv' must be a plain file name; put the folder in local_dir"]


def test_fields_and_rename_parse():
    s = settings(fields=" temp , rpm", rename="unit:id, temp:temperature")
    assert s.fields == ("temp", "rpm")
    assert s.rename == (("unit", "id"), ("temp", "temperature"))
    assert problems(fields="a,,b") == ["fields: 'a,,b' has an empty name; use a comma-separated list like a,b"]
    assert problems(rename="unit") == ["rename: 'unit' is not old:new; use e.g. unit:id,temp:temperature"]


def test_url_must_not_carry_credentials():
    assert problems(url="http://user:pw@host:8086") == ["url: put credentials in token, not in the URL"]


def test_the_token_is_masked_in_repr_and_public():
    s = settings(token="tok-SEKRET")
    assert "tok-SEKRET" not in repr(s)
    assert "token='***'" in repr(s)
    assert s.public()["token"] == "***"


def test_booleans_in_any_spelling():
    for text in ("True", "true", "1", "yes"):
        assert settings(verbose=text).verbose is True
    for text in ("False", "FALSE", "0", "no"):
        assert settings(verbose=text).verbose is False


def test_cli_pairs_accept_values_that_start_with_a_dash():
    raw = parse_cli(["--range_start", "-7d", "--token", "", "--url=http://h:1"])
    assert raw["range_start"] == "-7d" and raw["token"] == "" and raw["url"] == "http://h:1"
    assert raw["file_name"] == "influxdb.csv"  # library.yaml default
    assert "measurement" not in raw  # required, not given


@pytest.mark.parametrize("argv, message", [
    (["--nope", "1"], "unknown parameter --nope; valid: --agg, --api"),
    (["--url"], "--url needs a value"),
    (["url", "x"], "unexpected 'url': parameters are passed as --key value"),
    (["--url", "a", "--url", "b"], "--url is given twice"),
])
def test_cli_pair_errors(argv, message):
    with pytest.raises(ParameterError) as caught:
        parse_cli(argv)
    assert str(caught.value).startswith(message)


def test_library_yaml_arguments_follow_cnvrg_format():
    arguments = load_arguments()
    assert len({a.key for a in arguments}) == len(arguments)
    for argument in arguments:
        assert argument.type in ("discrete", "float", "integer", "categorical")
        assert argument.description
