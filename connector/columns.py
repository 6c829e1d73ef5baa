"""Which columns an export writes, in which order, under which names.

Time first, then the tags sorted by name, then the fields sorted by name (the union over
every series); `fields`, `tags`, `rename` and `time_format` shape it, and every clash
(a tag and a field with one name, two columns renamed alike) is an error, never a pick.
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import Settings
from .errors import DataError, ParameterError
from .sources.base import Plan


@dataclass(frozen=True)
class Layout:
    """The output's columns: which tags and fields, in order, and how time is written."""

    tags: tuple[str, ...]
    fields: tuple[str, ...]
    sort_tags: tuple[str, ...]  # every tag of the plan: rows order the same whichever are kept
    time_format: str = "iso"
    timezone: str = "UTC"


def _chosen(key: str, wanted: tuple[str, ...] | None, available: tuple[str, ...], measurement: str) -> tuple[str, ...]:
    """The names a `fields`/`tags` parameter picks (sorted), or all; an unknown one is an error."""
    if wanted is None:
        return available
    missing = [name for name in wanted if name not in available]
    if missing:
        raise ParameterError(f"{key}: {', '.join(map(repr, missing))} not in measurement {measurement!r} "
                             f"(its {key}: {', '.join(available) or 'none'})")
    return tuple(sorted(wanted))


def output_columns(settings: Settings, plan: Plan) -> tuple[Layout, list[str]]:
    """The output layout and the header (time, tags, fields, renamed); clashes are errors."""
    fields = _chosen("fields", settings.fields, tuple(sorted(plan.fields)), settings.measurement)
    tags = _chosen("tags", settings.tags, plan.tags, settings.measurement)
    clash = sorted(set(tags) & set(fields))
    if clash:
        raise DataError(f"{', '.join(map(repr, clash))} is both a tag and a field; export it with fields= "
                        f"excluding one of them")
    time_names = [] if settings.time_format == "omit" else [settings.time_col]
    names = [*time_names, *tags, *fields]
    renames = dict(settings.rename)
    unknown = [old for old in renames if old not in names]
    if unknown:
        raise ParameterError(f"rename: {', '.join(map(repr, unknown))} is not an output column "
                             f"(columns: {', '.join(names)})")
    header = [renames.get(name, name) for name in names]
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise ParameterError(f"output column {', '.join(map(repr, duplicates))} appears twice; "
                             f"change time_col or use rename")
    if not header:
        raise ParameterError("nothing to export: time_format is omit and no tag or field is left")
    layout = Layout(tags, fields, plan.tags, settings.time_format, settings.timezone)
    return layout, header
