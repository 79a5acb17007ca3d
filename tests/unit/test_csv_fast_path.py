"""A CSV row's fast path (CsvColumns.fast_record: cells -> record dict and record in one pass) against
the usual one (CsvColumns.record, then the diagnostic parse_record): on generated headers and rows,
whatever the fast path returns is exactly the record dict and the record the usual path makes; when
it is unsure it returns None and the usual path decides (and names the error)."""

from __future__ import annotations

import dataclasses

from hypothesis import event, given, settings
from hypothesis import strategies as st

from usersync.limits import DEFAULT_LIMITS
from usersync.parsing.files import CellError, CsvColumns
from usersync.records import InvalidRecord, diagnose_record

from test_record_fast_path import same_record

COLUMNS = ["nickname", "plan:string", "age:int", "level:float", "vip:bool", "signup:date", "avatar:url",
           "hobbies:tags", "points:incr", "debt:decr", "city", "odd\u2028name", "places:add", "places:remove"]
EXTRAS = ["overwrite", "destinations", "delete", "install_ids"]
EDGY = ["", "{null}", " ", "\t", "\x00", "\x1b[31m", "\ud800", "\u2028", "é", "a|b", "|", " | ", "a||b", "\x01|a",
        "NaN", "nan", "inf", "-inf", "1e400", "1.5e400", "-1.0e999", "nan.", "0.5", "1e3", "1.0", "1_000", " 7 ", "+5", "-0", "٣", "9" * 19, "9" * 20,
        "9223372036854775807", "9223372036854775808", "-9223372036854775809", "1" * 5000,
        "true", "FALSE", " 1 ", "yes", "0", "2016-01-10T10:00:00", "2016-01-10", " 2016-01-10 ", "2016-13-01",
        "1472656161", "1472656161000", "-62135596801", "9999-12-31T23:59:59-01:00", "https://cdn.example.com/a.png",
        "https://a b", "www.x.com", "batch|clevertap", "batch"]
EDGE_INTS = st.sampled_from([2 ** 63 - 1, 2 ** 63, -(2 ** 63), -(2 ** 63) - 1, 10 ** 30])
GOOD = {"": st.text("abcdefgh XYZé,|", max_size=8), "int": st.one_of(st.integers(-10 ** 6, 10 ** 6), EDGE_INTS).map(str),
        "float": st.floats(allow_nan=False, allow_infinity=False).map(repr),
        "bool": st.sampled_from(["true", "false", "1", "0", "True"]),
        "date": st.sampled_from(["2016-01-10T10:00:00", "2016-01-10", "1452420000", "2016-01-10T10:00:00+02:00"]),
        "url": st.just("https://cdn.example.com/a.png"), "tags": st.text("abc| ", max_size=8),
        "incr": st.one_of(st.integers(0, 100), EDGE_INTS).map(str), "decr": st.integers(0, 100).map(str),
        "add": st.text("abc|", max_size=6), "remove": st.text("abc|", max_size=6)}


def cell_for(column: str):
    suffix = column.partition(":")[2] if ":" in column else ""
    good = GOOD.get(suffix, GOOD[""])
    return st.integers(0, 4).flatmap(lambda n: good if n else st.one_of(st.sampled_from(EDGY),
                                                                           st.text(max_size=4)))


@st.composite
def header_and_row(draw):
    columns = draw(st.lists(st.sampled_from(COLUMNS), unique=True, max_size=8))
    if draw(st.integers(0, 3)) == 0:
        columns.append(draw(st.sampled_from(EXTRAS)))
    columns = draw(st.permutations(["user_id", *columns]))
    row = []
    for column in columns:
        if column == "user_id":
            row.append(draw(st.integers(0, 6).flatmap(
                lambda n: st.text("abc-0123", min_size=1, max_size=6) if n else st.sampled_from(EDGY))))
        elif column in ("overwrite", "delete"):
            row.append(draw(st.sampled_from(["", "true", "false", "1", "maybe", " 0 "])))
        elif column in ("destinations", "install_ids"):
            row.append(draw(st.sampled_from(["", "batch", "batch|clevertap", "|", "a|\x00", " a "])))
        else:
            row.append(draw(cell_for(column)))
    if draw(st.integers(0, 15)) == 0:
        row = row[:-1] if draw(st.booleans()) else [*row, "x"]
    return columns, row


def usual(columns: CsvColumns, row: list[str], limits):
    try:
        raw = columns.record(row)
    except CellError as error:
        return "cell", str(error), error.field
    try:
        return raw, diagnose_record(raw, limits)
    except InvalidRecord as error:
        return "record", error.reason, error.field


def strictly_equal(a, b) -> bool:
    """Equal with the same types and key order all the way down (1 == 1.0 == True is not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(strictly_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(strictly_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and a != a:
        return b != b
    return a == b


def check(header: list[str], row: list[str], limits=DEFAULT_LIMITS) -> str:
    columns = CsvColumns(header)
    expected = usual(columns, row, limits)
    fast = columns.fast_record(row, limits)
    label = f"fast path {'refused' if fast is None else 'took'}; usual {expected[0] if isinstance(expected[0], str) else 'ok'}"
    if fast is None:
        return label
    assert not isinstance(expected[0], str), f"the fast path accepted what the usual path refuses: {expected}"
    raw, record = fast
    assert strictly_equal(raw, expected[0]), (raw, expected[0])
    same_record(record, expected[1])
    return label


@settings(max_examples=2500)
@given(header_and_row())
def test_the_csv_fast_path_makes_what_the_usual_path_makes(case):
    event(check(*case))


@settings(max_examples=300)
@given(header_and_row())
def test_the_csv_fast_path_keeps_the_attribute_limit(case):
    event(check(*case, dataclasses.replace(DEFAULT_LIMITS, max_attributes_per_record=2)))


def test_the_csv_fast_path_takes_a_usual_row():
    header = ["user_id", "nickname", "age:int", "level:float", "vip:bool", "signup:date", "avatar:url", "hobbies:tags",
              "points:incr", "gone", "overwrite", "destinations"]
    row = ["u1", "Nick, 1", "42", "1.5", "true", "2016-01-10T10:00:00", "https://cdn.example.com/a.png", "a|b", "3",
           "{null}", "1", "batch"]
    assert check(header, row) == "fast path took; usual ok"
