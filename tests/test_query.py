"""The query text, golden, and quoting that no name can break out of."""
from connector import query
from connector.query import Selection
from connector.timerange import Window

WINDOW = Window(1_704_067_200_000_000_000, 1_704_067_200_000_000_001)


def test_flux_window_query_is_exactly_this():
    sel = Selection("plant", "machine")
    assert query.flux_window(sel, WINDOW) == (
        'from(bucket: "plant")\n'
        "  |> range(start: 2024-01-01T00:00:00.000000000Z, stop: 2024-01-01T00:00:00.000000001Z)\n"
        '  |> filter(fn: (r) => r._measurement == "machine")\n'
        '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n'
        '  |> drop(columns: ["_start", "_stop", "_measurement"])'
    )


def test_flux_with_fields_and_tag_filter():
    sel = Selection("b", "m", fields=("a", "b"), tag_filter=(("unit", "u1"), ("site", "s")))
    text = query.flux_window(sel, WINDOW)
    assert '  |> filter(fn: (r) => r._field == "a" or r._field == "b")\n' in text
    assert '  |> filter(fn: (r) => r["unit"] == "u1" and r["site"] == "s")\n' in text


def test_flux_string_escapes_everything_that_could_end_or_bend_a_literal():
    assert query.flux_string('a"b') == '"a\\"b"'
    assert query.flux_string("a\\b") == '"a\\\\b"'
    assert query.flux_string("x${y}") == '"x\\${y}"'
    assert query.flux_string("l1\nl2\r\t") == '"l1\\nl2\\r\\t"'
    hostile = 'm") |> yield() //'
    assert query.flux_string(hostile) == '"m\\") |> yield() //"'


def test_flux_probes_and_schema():
    sel = Selection("b", "m")
    assert query.flux_first_time(sel, 0, 1).endswith(
        '  |> first()\n  |> keep(columns: ["_time"])\n  |> group()\n  |> min(column: "_time")')
    assert query.flux_last_time(sel, 0, 1).endswith(
        '  |> last()\n  |> keep(columns: ["_time"])\n  |> group()\n  |> max(column: "_time")')
    assert query.flux_schema("tags", sel, 0, 1) == (
        'import "influxdata/influxdb/schema"\n\n'
        'schema.measurementTagKeys(bucket: "b", measurement: "m", '
        "start: 1970-01-01T00:00:00.000000000Z, stop: 1970-01-01T00:00:00.000000001Z)")


def test_influxql_window_query_is_exactly_this():
    sel = Selection("db", "machine")
    assert query.influxql_window(sel, WINDOW) == (
        'SELECT * FROM "machine" WHERE time >= 1704067200000000000 AND time < 1704067200000000001')


def test_influxql_with_fields_selects_the_tags_too():
    sel = Selection("db", "m", fields=("temp",), tag_filter=(("unit", "u'1"),))
    assert query.influxql_window(sel, WINDOW, tags=("unit",)) == (
        'SELECT "unit"::tag, "temp"::field FROM "m" WHERE time >= 1704067200000000000 '
        "AND time < 1704067200000000001 AND \"unit\" = 'u\\'1'")


def test_influxql_identifier_and_string_quoting():
    assert query.influxql_identifier('a"b\\c') == '"a\\"b\\\\c"'
    assert query.influxql_identifier("l1\nl2") == '"l1\\nl2"'
    assert query.influxql_string("it's\\") == "'it\\'s\\\\'"
    assert query.influxql_identifier('m" OR 1=1 --') == '"m\\" OR 1=1 --"'


def test_influxql_edges_and_show():
    sel = Selection("db", "m")
    assert query.influxql_edge_time(sel, 0, 5, last=True) == (
        'SELECT * FROM "m" WHERE time >= 0 AND time < 5 ORDER BY time DESC LIMIT 1')
    assert query.influxql_show("fields", sel) == 'SHOW FIELD KEYS FROM "m"'
    assert query.influxql_show("tags", sel) == 'SHOW TAG KEYS FROM "m"'
