"""parse_record's fast path against its diagnostic path (usersync.records.fast_record /
diagnose_record): on every generated record, valid or not, both give the same record (type, fields,
which fields were given, equality, copies) or the same error (message and field).

The fast path may refuse anything (None): the diagnostic path then decides. What it accepts must be
exactly what the diagnostic path makes of it; the strategies below aim at its edges."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from usersync.limits import DEFAULT_LIMITS
from usersync.records import (
    INT_MAX, INT_MIN, InvalidRecord, JsonFlaw, Source, SourcedRecord, diagnose_record, fast_record, parse_record,
    s3_source, sourced,
)

# Text near the edges of "printable": control characters, tab/LF/CR (fine in values, not in names),
# lone surrogates, U+FFFE/U+FFFF, separators (not printable, yet fine).
EDGY_CHARS = st.sampled_from(["\x00", "\t", "\n", "\r", "\x1b", "\x7f", "\ud800", "\udfff", "\ufffe", "\uffff",
                              "\u2028", "\u00a0", " ", "é", "😀", ":", "$"])
PLAIN = st.text("abcdefghijklmnopqrstuvwxyz_-.0123456789", max_size=10)
TEXT = st.one_of(PLAIN, PLAIN, st.text(st.one_of(st.characters(), EDGY_CHARS), max_size=6), st.just(""))
FLAW = st.sampled_from([JsonFlaw("NaN is not a JSON number"), JsonFlaw("the key 'a' appears more than once")])
NUMBERS = st.one_of(
    st.integers(min_value=INT_MIN, max_value=INT_MAX),
    st.sampled_from([INT_MAX, INT_MIN, INT_MAX + 1, INT_MIN - 1, 2 ** 200, -(2 ** 70), 0, -1, 1]),
    st.floats(),  # NaN and the infinities included
    st.sampled_from([1e308, -0.0, 5e-324]),
)
DATES = st.one_of(
    st.integers(min_value=-62135596800 - 5, max_value=253402300799 + 5),
    st.sampled_from([1472656161000, 2 ** 64, True, None, "", " 2016-01-10T10:00:00 ", "2016-01-10",
                     "2016-01-10T10:00:00+02:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00",
                     "2016-13-01", "yesterday", 1.5, float("nan"), float("inf"), [1]]),
    FLAW,
)
URLS = st.one_of(st.sampled_from(["https://cdn.example.com/a.png", "myapp://x", "https:/x", "www.x.com",
                                  "https://a b", "https://" + "a" * 2050, "", 3, None]), TEXT, FLAW)
STRINGS_LIST = st.lists(st.one_of(TEXT, TEXT, TEXT, st.integers(0, 3), st.none(), FLAW), max_size=4)
SCALARS = st.one_of(TEXT, NUMBERS, st.booleans(), st.none(), FLAW)
DOLLAR = st.one_of(
    st.fixed_dictionaries({"$date": DATES}),
    st.fixed_dictionaries({"$url": URLS}),
    st.fixed_dictionaries({"$incr": st.one_of(NUMBERS, st.booleans(), TEXT, FLAW)}),
    st.fixed_dictionaries({"$decr": st.one_of(NUMBERS, st.booleans(), TEXT, FLAW)}),
    st.fixed_dictionaries({}, optional={"$add": STRINGS_LIST, "$remove": STRINGS_LIST}),
    st.fixed_dictionaries({"$add": STRINGS_LIST}, optional={"$other": SCALARS, "$date": DATES}),
    st.dictionaries(st.sampled_from(["$date", "$url", "$incr", "$decr", "$add", "$remove", "x", ""]), SCALARS,
                    max_size=3),
)
# Mostly well-formed (the fast path's shapes), each field sometimes at an edge or wrong.
def mostly(good, *bad, odds: int = 8):
    """`good`, 1 time in `odds + 1` one of `bad` (one_of alone would weigh each of their branches)."""
    return st.integers(0, odds).flatmap(lambda n: good if n else st.one_of(*bad))


EDGY_TEXT = st.text(st.one_of(st.characters(), EDGY_CHARS), min_size=1, max_size=4)
GOOD_TEXT = mostly(st.one_of(PLAIN, st.text(st.sampled_from("ab Zé😀:$-|,{}"), max_size=8)), EDGY_TEXT, odds=12)
GOOD_LIST = st.lists(GOOD_TEXT, max_size=3)
GOOD_VALUES = st.one_of(
    GOOD_TEXT, st.integers(min_value=INT_MIN, max_value=INT_MAX), st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(), st.none(), GOOD_LIST,
    st.fixed_dictionaries({"$date": st.one_of(st.integers(-62135596800, 253402300799), st.sampled_from(
        ["2016-01-10T10:00:00", "2016-01-10", "2016-01-10T10:00:00+02:00", "2016-01-10T10:00:00Z"]))}),
    st.fixed_dictionaries({"$url": st.sampled_from(["https://cdn.example.com/a.png", "myapp://x/y?z=1"])}),
    st.fixed_dictionaries({"$incr": st.one_of(st.integers(0, 10 ** 6), st.floats(0, 1e6))}),
    st.fixed_dictionaries({"$decr": st.integers(0, 100)}),
    st.fixed_dictionaries({}, optional={"$add": GOOD_LIST, "$remove": GOOD_LIST}).filter(bool),
)
VALUES = mostly(GOOD_VALUES, SCALARS, STRINGS_LIST, DOLLAR, st.just({"a": {"b": 1}}), st.just(()))
NAMES = mostly(st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8), EDGY_TEXT, st.just(""), odds=12)
ATTRIBUTES = mostly(st.dictionaries(NAMES, VALUES, max_size=6), SCALARS, STRINGS_LIST,
                       st.dictionaries(NAMES, VALUES, min_size=101, max_size=103))
GOOD_ID = PLAIN.filter(bool)
IDS = mostly(GOOD_ID, EDGY_TEXT, TEXT, st.integers(0, 9), st.none(), FLAW, STRINGS_LIST)
LISTS = mostly(st.lists(GOOD_TEXT, min_size=1, max_size=3), STRINGS_LIST, st.just([]), TEXT, st.none(),
                  FLAW, st.tuples(PLAIN))
BOOLS = mostly(st.booleans(), st.sampled_from([0, 1, "true", None, 1.0]), FLAW)
EXTRA = st.sampled_from(["kind", "unknown", "install_ids", "delete", "tags", "audience", "user_id", "\x00bad",
                         "overwrite", "attributes", "action", "install_id"])

CHANGES = st.fixed_dictionaries({"user_id": IDS},
                                optional={"attributes": ATTRIBUTES, "overwrite": BOOLS, "destinations": LISTS})
AUDIENCE = st.fixed_dictionaries(
    {"audience": IDS, "install_id": IDS, "action": mostly(st.sampled_from(["add", "remove"]), st.sampled_from(["Add", ""]), IDS)},
    optional={"tags": LISTS, "attributes": ATTRIBUTES, "destinations": LISTS})
DELETIONS = st.fixed_dictionaries(
    {"user_id": IDS, "delete": mostly(st.just(True), BOOLS)},
    optional={"install_ids": st.one_of(LISTS, LISTS, st.lists(GOOD_ID, min_size=99, max_size=102)),
              "destinations": LISTS})


@st.composite
def with_extra(draw, records):
    record = draw(records)
    if draw(st.integers(0, 6)) == 0:  # one field more (known to another shape, or to none)
        record[draw(EXTRA)] = draw(st.one_of(SCALARS, STRINGS_LIST, ATTRIBUTES))
    if draw(st.integers(0, 8)) == 0:  # one field less
        keys = sorted(record)
        if keys:
            del record[draw(st.sampled_from(keys))]
    return record


RECORDS = mostly(st.one_of(with_extra(CHANGES), with_extra(CHANGES), with_extra(AUDIENCE), with_extra(DELETIONS)),
                 SCALARS, STRINGS_LIST, st.just({}), odds=20)


def outcome(parse, raw, limits=DEFAULT_LIMITS):
    try:
        return parse(raw, limits)
    except InvalidRecord as error:
        return InvalidRecord, error.reason, error.field, str(error)


def same_record(fast, slow) -> None:
    assert type(fast) is type(slow)
    assert fast == slow and slow == fast
    assert list(fast.__dict__.items()) == list(slow.__dict__.items())  # the fields, in their order
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.__pydantic_extra__ == slow.__pydantic_extra__
    assert fast.__pydantic_private__ == slow.__pydantic_private__
    assert repr(fast) == repr(slow)
    assert fast.model_dump() == slow.model_dump()
    assert fast.model_copy(update={"destinations": ("x",)}) == slow.model_copy(update={"destinations": ("x",)})
    if not hasattr(fast, "attributes"):  # a deletion is hashable (a change holds a dict)
        assert hash(fast) == hash(slow)


def check_same(raw, limits=DEFAULT_LIMITS) -> None:
    slow = outcome(diagnose_record, raw, limits)
    fast = fast_record(raw, limits)
    event(f"fast path {'refused' if fast is None else 'took'}; diagnostic {'error' if isinstance(slow, tuple) else 'ok'}")
    if fast is not None:  # the fast path took it: it must be the diagnostic path's record, never an error
        assert not isinstance(slow, tuple), f"the fast path accepted what the diagnostic path refuses: {slow}"
        same_record(fast, slow)
    public = outcome(parse_record, raw, limits)
    if isinstance(slow, tuple):
        assert public == slow  # the same message and field
    else:
        same_record(public, slow)


@settings(max_examples=2000)
@given(RECORDS)
def test_fast_path_gives_what_the_diagnostic_path_gives(raw):
    check_same(raw)


EDGE_VALUES = st.one_of(GOOD_VALUES, SCALARS, NUMBERS, st.sampled_from([float("nan"), float("inf"), -float("inf")]), STRINGS_LIST, DOLLAR, EDGY_TEXT, st.just(()))
FEW = dataclasses.replace(DEFAULT_LIMITS, max_attributes_per_record=3)  # the limit, at hand
ONE_CHANGE_ATTRIBUTES = st.dictionaries(NAMES, EDGE_VALUES, min_size=1, max_size=5)


@settings(max_examples=1500)
@given(GOOD_ID, ONE_CHANGE_ATTRIBUTES, st.sampled_from(["user", "audience"]))
def test_fast_path_on_attribute_values(user_id, attributes, kind):
    """The attributes alone at their edges, in records otherwise well-formed."""
    raw = {"user_id": user_id} if kind == "user" else {"audience": "a", "install_id": user_id, "action": "add"}
    raw["attributes"] = attributes
    check_same(raw, FEW)


def test_the_fast_path_takes_the_common_shapes():
    """Not a test of equality (the property above) but that the fast path is not dead code."""
    records = [
        {"user_id": "u1", "attributes": {"s": "x", "i": 3, "f": 1.5, "b": True, "n": None, "tags": ["a", "b"],
                                         "d": {"$date": "2016-01-10T10:00:00"}, "e": {"$date": 1452420000},
                                         "url": {"$url": "https://cdn.example.com/a.png"}, "p": {"$incr": 2},
                                         "q": {"$decr": 1.5}, "l": {"$add": ["x"], "$remove": ["y"]}},
         "overwrite": True, "destinations": ["batch"]},
        {"user_id": "u2"},
        {"audience": "vip", "install_id": "i1", "action": "remove", "tags": ["t"], "attributes": {"a": 1}},
        {"user_id": "u3", "delete": True, "install_ids": ["i1", "i2"], "destinations": ["clevertap"]},
    ]
    for raw in records:
        fast = fast_record(raw)
        assert fast is not None, raw
        same_record(fast, diagnose_record(raw))


@given(st.one_of(st.none(), PLAIN), st.one_of(st.none(), PLAIN), st.one_of(st.none(), st.integers(0, 10 ** 9)),
       st.one_of(st.none(), PLAIN), st.one_of(st.none(), st.integers(0, 10 ** 5)))
def test_a_source_and_a_sourced_record_built_through_their_slots_are_the_usual_ones(bucket, key, line, chunk, ordinal):
    fast = s3_source(bucket, key, line, chunk, ordinal)
    usual = Source("s3", bucket=bucket, key=key, line=line, chunk=chunk, ordinal=ordinal)
    assert fast == usual and hash(fast) == hash(usual) and repr(fast) == repr(usual)
    assert fast.unit == usual.unit and fast.as_dict() == usual.as_dict()
    record = parse_record({"user_id": "u"})
    item = sourced(record, {"user_id": "u"}, fast)
    assert item == SourcedRecord(record, {"user_id": "u"}, usual) and repr(item) == repr(SourcedRecord(record, {"user_id": "u"}, usual))
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.line = 3
