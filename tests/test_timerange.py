"""range_start / range_end: every accepted form, to the nanosecond, and the windows."""
import pytest

from connector.timerange import (NS_PER_S, TimeParseError, Window, WindowPlanner, format_rfc3339,
                                 parse_duration, parse_time, split)

NOW = 1_717_243_200_123_456_789  # 2024-06-01T12:00:00.123456789Z


@pytest.mark.parametrize("text, expected", [
    ("2020-01-01T00:00:00Z", 1_577_836_800 * NS_PER_S),
    ("2020-01-01", 1_577_836_800 * NS_PER_S),
    ("2024-01-01T00:00:30.000000789Z", 1_704_067_230_000_000_789),
    ("2024-01-01T00:00:30.5Z", 1_704_067_230_500_000_000),
    ("2024-01-01T02:00:00+02:00", 1_704_067_200 * NS_PER_S),
    ("2023-12-31T19:30:00-04:30", 1_704_067_200 * NS_PER_S),
    ("2024-01-01 00:00:00", 1_704_067_200 * NS_PER_S),
    ("1969-12-31T23:59:59.999999999Z", -1),
    ("now()", NOW),
    ("NOW()", NOW),
    ("-1s", NOW - NS_PER_S),
    ("-1m", NOW - 60 * NS_PER_S),  # m is minutes, as cnvrg's docs tell users
    ("-1h", NOW - 3600 * NS_PER_S),
    ("-1d", NOW - 86400 * NS_PER_S),
    ("-1w", NOW - 7 * 86400 * NS_PER_S),
    ("-1d12h", NOW - 36 * 3600 * NS_PER_S),
])
def test_parse_time_accepts_every_documented_form(text, expected):
    assert parse_time(text, NOW) == expected


def test_months_and_years_are_calendar_steps():
    assert format_rfc3339(parse_time("-1mo", NOW)) == "2024-05-01T12:00:00.123456789Z"
    assert format_rfc3339(parse_time("-1y", NOW)) == "2023-06-01T12:00:00.123456789Z"
    march_31 = parse_time("2024-03-31T00:00:00Z", 0)
    assert format_rfc3339(parse_time("-1mo", march_31)) == "2024-02-29T00:00:00.000000000Z"


@pytest.mark.parametrize("text", ["yesterday", "-1q", "2024-13-01", "2024-02-30", "2024-01-01T25:00:00Z",
                                  "1d", "-", "", "2024-01-01T00:00:00.1234567890Z", "3000-01-01"])
def test_parse_time_rejects_with_the_forms_listed(text):
    with pytest.raises(TimeParseError) as caught:
        parse_time(text, NOW)
    assert repr(text) in str(caught.value)


def test_durations():
    assert parse_duration("1h") == 3600 * NS_PER_S
    assert parse_duration("1d12h") == 36 * 3600 * NS_PER_S
    assert parse_duration("500ms") == 500_000_000
    for bad in ("0s", "h", "-1h", "1x"):
        with pytest.raises(TimeParseError):
            parse_duration(bad)


def test_format_rfc3339_is_fixed_width_with_nine_digits():
    assert format_rfc3339(0) == "1970-01-01T00:00:00.000000000Z"
    assert format_rfc3339(-1) == "1969-12-31T23:59:59.999999999Z"


def test_split_makes_half_open_windows_that_chain_without_overlap():
    assert list(split(0, 10, 4)) == [Window(0, 4), Window(4, 8), Window(8, 10)]


def test_planner_grows_windows_from_the_density_it_sees_and_covers_the_range_exactly():
    minute = 60 * NS_PER_S
    planner = WindowPlanner(0, 1000 * minute, target_rows=600)
    first = planner.next()
    assert first == Window(0, minute)
    planner.observe(first, 6)  # 6 rows a minute -> 100 minutes would hold 600, but growth is capped at 8x
    second = planner.next()
    assert second == Window(minute, 9 * minute)
    planner.observe(second, 48)
    windows = [first, second]
    while (window := planner.next()) is not None:
        planner.observe(window, 6 * (window.stop - window.start) // minute)
        windows.append(window)
    assert windows[2] == Window(9 * minute, 73 * minute)
    assert windows[3] == Window(73 * minute, 173 * minute)  # density known: 100 minutes of rows
    assert all(a.stop == b.start for a, b in zip(windows, windows[1:]))
    assert windows[-1].stop == 1000 * minute


def test_planner_with_a_fixed_step_ignores_density():
    planner = WindowPlanner(0, 10, step=4)
    planner.observe(Window(0, 4), 10**9)
    assert [planner.next(), planner.next(), planner.next(), planner.next()] == [
        Window(0, 4), Window(4, 8), Window(8, 10), None]
