"""Files -> records: CSV (typed columns, tags, removal marker, quotes, CRLF, BOM), JSON Lines and
JSON arrays, with the line of every row."""

from __future__ import annotations

import pytest

from usersync.parsing.files import REMOVE_MARKER, CsvColumns, FileFormat, FileRejected, chunk_records
from usersync.records import Source, SourcedRecord, Unparsable


def source_at(line: int, ordinal: int) -> Source:
    return Source("s3", bucket="bucket", key="incoming/users.csv", line=line, chunk="c", ordinal=ordinal)


def read(text: str, kind: str = "csv", header: list[str] | None = None, first_line: int = 2):
    return list(chunk_records(text, kind, first_line=first_line, source_at=source_at, header=header))


HEADER = ["user_id", "nickname", "age:int", "level:float", "vip:bool", "signup:date", "avatar:url",
          "hobbies:tags", "points:incr", "credits:decr"]


def test_a_typed_csv_row_becomes_the_record_a_json_user_would_write():
    [item] = read('vincent-42,Vincent,55,45.09,true,2016-01-10T10:00:00,https://cdn.example.com/42.png,'
                  'cooking|chess,10,3\n', header=HEADER)
    assert isinstance(item, SourcedRecord)
    assert item.raw == {"user_id": "vincent-42", "attributes": {
        "nickname": "Vincent", "age": 55, "level": 45.09, "vip": True,
        "signup": {"$date": "2016-01-10T10:00:00"}, "avatar": {"$url": "https://cdn.example.com/42.png"},
        "hobbies": ["cooking", "chess"], "points": {"$incr": 10}, "credits": {"$decr": 3}}}
    assert item.source.line == 2 and item.source.unit == "s3:c"


def test_empty_cells_leave_attributes_unchanged_and_the_marker_removes_them():
    [item] = read(f"u1,,,,,,,{REMOVE_MARKER},,\n", header=HEADER)
    assert item.raw == {"user_id": "u1", "attributes": {"hobbies": None}}
    [item] = read("u2,,,,,,,,,\n", header=HEADER)
    assert item.raw == {"user_id": "u2"}


def test_epoch_dates_tags_edits_overwrite_and_destinations_columns():
    header = ["user_id", "signup:date", "locations:add", "locations:remove", "overwrite", "destinations"]
    [item] = read("u1,1472656161, Paris | Rome ,Berlin,TRUE,batch_ios|clevertap\n", header=header)
    assert item.raw == {"user_id": "u1", "attributes": {"signup": {"$date": 1472656161},
                                                        "locations": {"$add": ["Paris", "Rome"], "$remove": ["Berlin"]}},
                        "overwrite": True, "destinations": ["batch_ios", "clevertap"]}


def test_quoted_commas_embedded_newlines_and_crlf_keep_rows_whole_and_lines_right():
    text = 'u1,"Doe, John",1\r\nu2,"two\r\nlines",2\r\n\r\nu3,plain,3\r\n'
    items = read(text, header=["user_id", "name", "n:int"])
    assert [(i.raw["user_id"], i.raw["attributes"]["name"], i.source.line) for i in items] == [
        ("u1", "Doe, John", 2), ("u2", "two\r\nlines", 3), ("u3", "plain", 6)]


@pytest.mark.parametrize(("cell", "header", "field", "message"), [
    ("abc", "age:int", "attributes.age", "'abc' is not an integer (column age:int)"),
    ("yes", "vip:bool", "attributes.vip", "'yes' is not a boolean"),
    ("x", "points:incr", "attributes.points", "'x' is not a number"),
])
def test_a_cell_that_does_not_match_its_type_rejects_its_row_naming_line_and_field(cell, header, field, message):
    good_cell = "true" if header == "vip:bool" else "1"
    good, bad = read(f"u1,{good_cell}\nu2,{cell}\n", header=["user_id", header])
    assert isinstance(good, SourcedRecord)
    assert isinstance(bad, Unparsable)
    assert bad.source.line == 3 and bad.field == field and message in bad.reason
    assert bad.raw == {"user_id": "u2", header: cell}  # the row as written


def test_record_rules_are_checked_by_parse_record_with_the_field():
    header = ["user_id", "signup:date", "avatar:url"]
    bad_date, missing_id = read("u1,someday,\n,2016-01-10,\n", header=header)
    assert isinstance(bad_date, Unparsable) and bad_date.field == "attributes.signup"
    assert isinstance(missing_id, Unparsable) and missing_id.field == "user_id" and missing_id.source.line == 3


def test_a_row_with_the_wrong_number_of_fields_is_rejected():
    [item] = read("u1,a,b\n", header=["user_id", "x"])
    assert isinstance(item, Unparsable) and "3 fields, the header 2" in item.reason


def test_audience_files_take_install_id_audience_action_and_tags():
    header = ["install_id", "audience", "action", "tier", "tags"]
    [item] = read("8a3c,vip_users,add,gold,beta|early\n", header=header)
    assert item.raw == {"install_id": "8a3c", "audience": "vip_users", "action": "add",
                        "attributes": {"tier": "gold"}, "tags": ["beta", "early"]}
    assert item.record.kind == "audience"


@pytest.mark.parametrize(("header", "message"), [
    (["nickname"], "needs a user_id column"),
    (["user_id", "age:integer"], "unknown type suffix :integer"),
    (["user_id", "age", "age"], "appears twice"),
    (["user_id", "age:int", "age:float"], "more than one column"),
    (["user_id", "install_id", "audience", "action"], "not both"),
    (["user_id", ""], "has no name"),
    (["user_id:int"], "takes no type suffix"),
])
def test_a_bad_header_rejects_the_file(header, message):
    with pytest.raises(FileRejected, match=message):
        CsvColumns(header, "s3://bucket/incoming/users.csv")


def test_json_lines_one_record_per_line_and_a_bad_line_alone_is_rejected():
    text = '{"user_id": "a"}\n\n{"user_id": "b", "attributes": {"x": 1}}\nnot json\n{"user_id": 7}\n'
    a, b, not_json, wrong = read(text, "jsonl", first_line=1)
    assert (a.source.line, b.source.line, not_json.source.line, wrong.source.line) == (1, 3, 4, 5)
    assert isinstance(not_json, Unparsable) and "not JSON" in not_json.reason and not_json.raw == "not json"
    assert isinstance(wrong, Unparsable) and wrong.field == "user_id"


def test_a_json_array_chunk_gives_each_element_its_line():
    text = '{"user_id": "a"},\n  {"user_id": "b",\n   "attributes": {"n": 1}},\n{"user_id": "c"}'
    items = read(text, "json", first_line=2)
    assert [(i.raw["user_id"], i.source.line) for i in items] == [("a", 2), ("b", 3), ("c", 5)]


@pytest.mark.parametrize(("key", "kind", "gzip"), [
    ("incoming/a.csv", "csv", False), ("incoming/a.CSV.gz", "csv", True), ("incoming/a.jsonl", "jsonl", False),
    ("incoming/a.ndjson.gz", "jsonl", True), ("incoming/a.json", "json", False), ("incoming/x.json.gzip", "json", True),
])
def test_the_format_comes_from_the_key(key, kind, gzip):
    assert FileFormat.of_key(key) == FileFormat(kind, gzip)


def test_an_unknown_file_type_is_refused_by_name():
    with pytest.raises(FileRejected, match="incoming/a.xlsx: unsupported file type"):
        FileFormat.of_key("incoming/a.xlsx")
