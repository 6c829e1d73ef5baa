"""library.yaml -> command-line parser, and cnvrg's value conventions.

library.yaml is the one list of parameters: the parser, --help, the README table and
the Python API's keyword arguments all come from it.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import yaml

from .errors import ParameterError

LIBRARY_YAML = Path(__file__).resolve().parent.parent / "library.yaml"

# Presentation only: how --help groups the parameters. A key missing here lands in "other".
HELP_GROUPS: dict[str, tuple[str, ...]] = {
    "connection": ("url", "token", "org", "bucket", "api", "verify_ssl", "ssl_ca_cert", "timeout", "retries"),
    "what to export": ("measurement", "fields", "tags", "tag_filter", "range_start", "range_end", "every", "agg", "fill", "window"),
    "output": ("time_col", "time_format", "timezone", "rename", "file_name", "local_dir", "mode", "cnvrg_dataset"),
    "profile": ("profile", "gap_factor", "label_field", "plot"),
    "run": ("workers", "dry_run", "verbose"),
}

_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


@dataclass(frozen=True)
class Argument:
    """One entry of library.yaml's `arguments`."""

    key: str
    type: str
    values: tuple[str, ...]
    description: str

    @property
    def required(self) -> bool:
        return not self.values

    @property
    def default(self) -> str | None:
        return None if self.required else self.values[0]


@lru_cache(maxsize=4)
def load_arguments(path: Path = LIBRARY_YAML) -> tuple[Argument, ...]:
    # libyaml's loader when PyYAML has it (10x faster here: 3 ms, not 26 ms, on every start).
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as handle:
        spec = yaml.load(handle, Loader=loader)  # noqa: S506 (a safe loader either way)
    return tuple(
        Argument(
            key=str(entry["key"]),
            type=str(entry["type"]),
            values=tuple(str(v) for v in (entry.get("values") or [])),
            description=str(entry.get("description", "")),
        )
        for entry in spec["arguments"]
    )


def is_unset(value: object) -> bool:
    """cnvrg sends an unset optional value as the string None, in any case."""
    return value is None or (isinstance(value, str) and value.strip().lower() == "none")


def parse_bool(key: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ParameterError(f"{key}: {value!r} is not a boolean; use True or False")


def build_parser(arguments: Sequence[Argument] | None = None) -> argparse.ArgumentParser:
    arguments = load_arguments() if arguments is None else arguments
    parser = argparse.ArgumentParser(
        prog="influxdb_connector.py",
        description="Export an InfluxDB measurement to an ML-ready CSV or Parquet file.",
        epilog="Values follow cnvrg's conventions: None means unset, Secret reads INFLUXDB_<KEY> "
        "from the environment, booleans are True/False.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    by_key = {a.key: a for a in arguments}
    placed: set[str] = set()
    for title, keys in HELP_GROUPS.items():
        group = parser.add_argument_group(title)
        for key in keys:
            if key in by_key:
                _add(group, by_key[key])
                placed.add(key)
    rest = [a for a in arguments if a.key not in placed]
    if rest:
        group = parser.add_argument_group("other")
        for argument in rest:
            _add(group, argument)
    return parser


def _add(group: argparse._ArgumentGroup, argument: Argument) -> None:
    if argument.required:
        suffix = " (required)"
    else:
        suffix = f" (default {argument.default})"
    group.add_argument(
        f"--{argument.key}",
        dest=argument.key,
        metavar="VALUE",
        default=None,
        help=(argument.description + suffix).replace("%", "%%"),
    )


def parse_cli(argv: Sequence[str]) -> dict[str, str]:
    """The raw strings the user gave; library.yaml defaults fill what they did not.

    cnvrg passes `--key value` pairs whose value may start with a dash (`-7d`), which
    argparse would take for an option; so pairs are read here and argparse only
    renders --help.
    """
    arguments = load_arguments()
    known = {a.key for a in arguments}
    given: dict[str, str] = {}
    words = list(argv)
    index = 0
    while index < len(words):
        word = words[index]
        if word in ("-h", "--help"):
            build_parser(arguments).print_help()
            raise SystemExit(0)
        if not word.startswith("--") or len(word) == 2:
            raise ParameterError(f"unexpected {word!r}: parameters are passed as --key value")
        key, equals, value = word[2:].partition("=")
        if not equals:
            following = words[index + 1] if index + 1 < len(words) else None
            if following is None or (following.startswith("--") and following[2:].partition("=")[0] in known):
                raise ParameterError(f"--{key} needs a value")
            value = words[index + 1]
            index += 1
        if key not in known:
            raise ParameterError(f"unknown parameter --{key}; valid: {', '.join('--' + k for k in sorted(known))}")
        if key in given:
            raise ParameterError(f"--{key} is given twice")
        given[key] = value
        index += 1
    raw: dict[str, str] = {}
    for argument in arguments:
        if argument.key in given:
            raw[argument.key] = given[argument.key]
        elif argument.default is not None:
            raw[argument.key] = argument.default
    return raw
