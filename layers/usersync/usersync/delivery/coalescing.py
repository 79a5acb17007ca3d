"""Coalescing: several changes to one user in one batch become one change with the same result as
applying them in order, so one call carries the user once (Batch allows one operation per
attribute per call) and a batch needs one wave of calls instead of one per change.

Composition, per attribute, of an earlier operation `a` with a later `b`:
- a value, a date, a URL or null (`b`) replaces `a` unless `a` is a tag operation;
- a tag list replaces an earlier tag list or tag edit;
- a tag edit on a tag list: the list edited; on a tag edit: one edit (adds and removes merged);
- $incr/$decr on a number: the number changed; on $incr/$decr: the sum.
What does not compose (a tag operation after a value: Batch keeps `u.` attributes and `ut.` tags
apart; an increment after a removal; a later record with `overwrite`) starts a new change, sent in
the next wave, in order. Tag edits are read as Batch applies them: (tags ∪ $add) − $remove.
"""

from __future__ import annotations

from collections.abc import Sequence

from usersync.records import EditTags, Increment, Operation, Remove, ReplaceTags, SetDate, SetUrl, SetValue, UserChange

_VALUES = (SetValue, SetDate, SetUrl, Remove, Increment)
_TAGS = (ReplaceTags, EditTags)


def _signed(op: Increment) -> int | float:
    return -op.by if op.decrement else op.by


def _increment(total: int | float) -> Increment:
    return Increment(-total, decrement=True) if total < 0 else Increment(total)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _clean_edit(op: EditTags) -> bool:
    # A value both added and removed in one edit depends on the vendor's order: left alone.
    return not set(op.add) & set(op.remove)


def compose(a: Operation, b: Operation) -> Operation | None:
    """The one operation that has the effect of `a` then `b` on an attribute; None if there is none."""
    if isinstance(b, (SetValue, SetDate, SetUrl, Remove)):
        return b if isinstance(a, _VALUES) else None
    if isinstance(b, ReplaceTags):
        return b if isinstance(a, _TAGS) else None
    if isinstance(b, EditTags):
        if not _clean_edit(b) or not isinstance(a, _TAGS):
            return None
        add, remove = set(b.add), set(b.remove)
        if isinstance(a, ReplaceTags):
            kept = [v for v in a.values if v not in remove]
            return ReplaceTags(tuple(dict.fromkeys(kept + [v for v in b.add if v not in remove])))
        if not _clean_edit(a):
            return None
        return EditTags(
            tuple(dict.fromkeys([v for v in a.add if v not in remove] + list(b.add))),
            tuple(dict.fromkeys([v for v in a.remove if v not in add] + list(b.remove))),
        )
    if isinstance(b, Increment):
        if isinstance(a, SetValue) and _is_number(a.value):
            return SetValue(a.value + _signed(b))
        if isinstance(a, Increment):
            return _increment(_signed(a) + _signed(b))
        return None
    return None


def merge(a: UserChange, b: UserChange) -> UserChange | None:
    """One change with the effect of `a` then `b` (same user); None when they do not compose."""
    if b.overwrite:
        return None  # b wipes what a did at Batch but merges at other vendors: keep both, in order
    attributes = dict(a.attributes)
    for name, op in b.attributes.items():
        if name in attributes:
            composed = compose(attributes[name], op)
            if composed is None:
                return None
            attributes[name] = composed
        else:
            attributes[name] = op
    return a.model_copy(update={"attributes": attributes})


def coalesce(changes: Sequence[UserChange]) -> list[tuple[UserChange, list[int]]]:
    """Changes to one user, in order -> the fewest changes with the same effect, each with the
    indexes of the changes it stands for."""
    groups: list[tuple[UserChange, list[int]]] = []
    for index, change in enumerate(changes):
        if groups:
            merged = merge(groups[-1][0], change)
            if merged is not None:
                groups[-1] = (merged, groups[-1][1] + [index])
                continue
        groups.append((change, [index]))
    return groups
