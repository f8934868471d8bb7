"""Rule audiences: the rule language's validation and the evaluator's semantics.

The property tests compare the evaluator with a naive reference evaluator written here
from the specification in chalicelib/audiences/rules.py, sharing no code with it.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from chalicelib.audiences.rules import UserFacts, behaviour_needs, compile_rule, evaluate_partial, matches
from chalicelib.audiences.schemas import parse_source
from chalicelib.errors import Invalid

UTC = timezone.utc
NOW = datetime(2024, 5, 2, 6, 0, tzinfo=UTC)
SETTINGS = settings(max_examples=400, deadline=None)


def rule(*conditions, match="all"):
    return parse_source({"type": "rules", "match": match, "conditions": list(conditions)})


def user(attributes=None, tags=(), events=None):
    return UserFacts(attributes=attributes or {}, tags=frozenset(tags), events=events or {})


def holds(condition, facts, now=NOW):
    return matches(rule(condition), facts, now)


# the naive reference evaluator (independent of the code under test)

def ref_time(text):
    """('date', date) or ('time', UTC datetime) for the ISO forms the spec names, else None."""
    if not isinstance(text, str):
        return None
    digits = set("0123456789")
    if len(text) == 10:
        if text[4] == "-" and text[7] == "-" and set(text[:4] + text[5:7] + text[8:]) <= digits:
            try:
                return ("date", date(int(text[:4]), int(text[5:7]), int(text[8:])))
            except ValueError:
                return None
        return None
    if len(text) < 17 or text[10] != "T" or ref_time(text[:10]) is None:
        return None
    rest = text[11:]
    if rest.endswith("Z"):
        clock, offset = rest[:-1], timedelta(0)
    elif len(rest) > 6 and rest[-6] in "+-" and rest[-3] == ":" and set(rest[-5:-3] + rest[-2:]) <= digits:
        sign = 1 if rest[-6] == "+" else -1
        clock, offset = rest[:-6], sign * timedelta(hours=int(rest[-5:-3]), minutes=int(rest[-2:]))
    else:
        return None
    parts = clock.split(":")
    if len(parts) not in (2, 3):
        return None
    seconds, micros = "0", "0"
    if len(parts) == 3:
        seconds, _, fraction = parts[2].partition(".")
        if "." in parts[2]:
            if not 1 <= len(fraction) <= 6 or not set(fraction) <= digits:
                return None
            micros = fraction.ljust(6, "0")
        if len(seconds) != 2 or not set(seconds) <= digits:
            return None
    if any(len(p) != 2 or not set(p) <= digits for p in parts[:2]):
        return None
    day = ref_time(text[:10])[1]
    try:
        local = datetime.combine(day, time(int(parts[0]), int(parts[1]), int(seconds), int(micros)))
    except ValueError:
        return None
    return ("time", (local - offset).replace(tzinfo=UTC))


def ref_at_level(moment, level):
    kind, value = moment
    if level == "date":
        return value.date() if kind == "time" else value
    return value if kind == "time" else datetime(value.year, value.month, value.day, tzinfo=UTC)


def ref_fact_time(fact):
    if isinstance(fact, datetime):
        return ("time", fact.astimezone(UTC))
    return ref_time(fact)


def is_num(x):
    return type(x) in (int, float, Decimal)


def ref_eq(fact, value):
    if type(value) is bool:
        return type(fact) is bool and fact == value
    if is_num(value):
        return is_num(fact) and fact == value
    wanted = ref_time(value)
    if wanted is None:
        return type(fact) is str and fact == value
    got = ref_fact_time(fact)
    return got is not None and ref_at_level(got, wanted[0]) == wanted[1]


def ref_cmp(fact, value):
    if is_num(value):
        if not is_num(fact):
            return None
        return (fact > value) - (fact < value)
    wanted = ref_time(value)
    got = ref_fact_time(fact)
    if wanted is None or got is None:
        return None
    mine = ref_at_level(got, wanted[0])
    return (mine > wanted[1]) - (mine < wanted[1])


def ref_test(condition, fact):
    op, value = condition["op"], condition.get("value")
    if op == "exists":
        return fact is not None
    if op == "not_exists":
        return fact is None
    if op == "eq":
        return ref_eq(fact, value)
    if op == "neq":
        return not ref_eq(fact, value)
    if op == "in":
        return any(ref_eq(fact, v) for v in value)
    if op == "not_in":
        return not any(ref_eq(fact, v) for v in value)
    if op == "contains":
        if type(fact) is str:
            return type(value) is str and value in fact
        if type(fact) is list:
            return any(ref_eq(element, value) for element in fact)
        return False
    if op == "starts_with":
        return type(fact) is str and fact.startswith(value)
    if op == "between":
        low, high = ref_cmp(fact, value[0]), ref_cmp(fact, value[1])
        return low is not None and high is not None and low >= 0 and high <= 0
    c = ref_cmp(fact, value)
    if c is None:
        return False
    return {"gt": c > 0, "gte": c >= 0, "lt": c < 0, "lte": c <= 0}[op]


def ref_condition(condition, facts, now):
    if "all" in condition:
        return all(ref_condition(c, facts, now) for c in condition["all"])
    if "any" in condition:
        return any(ref_condition(c, facts, now) for c in condition["any"])
    if "tag" in condition:
        return (condition["tag"] in facts.tags) == (condition["op"] == "has")
    if "attribute" in condition:
        return ref_test(condition, facts.attributes.get(condition["attribute"]))
    count = 0
    for stamp, properties in facts.events.get(condition["event"], []):
        moment = ref_fact_time(stamp)
        if moment is None:
            continue
        instant = ref_at_level(moment, "time")
        if "within_days" in condition and instant < now - timedelta(days=condition["within_days"]):
            continue
        if "between" in condition:
            start, end = condition["between"]
            if ref_cmp(stamp, start) < 0 or ref_cmp(stamp, end) > 0:
                continue
        if all(ref_test(w, properties.get(w["property"])) for w in condition.get("where", [])):
            count += 1
    return (count >= condition.get("min_count", 1)) == (condition["op"] == "did")


def ref_matches(raw, facts, now):
    results = [ref_condition(c, facts, now) for c in raw["conditions"]]
    return all(results) if raw.get("match", "all") == "all" else any(results)


# random rules and users

NAMES = ["a", "b", "c"]
STRINGS = ["x", "xy", "yx", "X", "2024-05-01", "2024-05-02", "2024-05-01T12:00:00Z",
           "2024-05-01T23:30:00-02:00", "2024-05-02T00:00:00+00:00", "2024-05-01T08:00:00+08:00",
           "2024-05-01T00:00", "2024-05-01T10:00:00", "2024-13-01"]
TIMES = ["2024-04-30", "2024-05-01", "2024-05-02", "2024-05-01T12:00:00Z", "2024-05-01T23:30:00-02:00",
         "2024-05-02T00:00:00+00:00", "2024-05-01T08:00:00+08:00", "2024-05-01T00:00:00.5Z"]
NUMBERS = [-1, 0, 1, 2, 2.5, 1.0, 10**20]
scalars = st.sampled_from(NUMBERS + STRINGS + [True, False])
ordered = st.sampled_from(NUMBERS + TIMES)
fact_values = st.one_of(scalars, st.sampled_from(["", Decimal("1"), Decimal("2.5"), None, {"k": 1}]),
                        st.lists(scalars, max_size=3))


def order_key(value):
    if is_num(value):
        return (0, value, 0)
    return (1, ref_at_level(ref_time(value), "time"), 0)


@st.composite
def comparison(draw, name_key, names):
    op = draw(st.sampled_from(["eq", "neq", "in", "not_in", "gt", "gte", "lt", "lte", "between", "contains",
                               "starts_with", "exists", "not_exists"]))
    condition = {name_key: draw(st.sampled_from(names)), "op": op}
    if op in ("eq", "neq", "contains"):
        condition["value"] = draw(scalars)
    elif op in ("in", "not_in"):
        condition["value"] = draw(st.lists(scalars, min_size=1, max_size=3))
    elif op == "starts_with":
        condition["value"] = draw(st.sampled_from(STRINGS))
    elif op == "between":
        kind = draw(st.sampled_from(["number", "date", "time"]))
        pool = {"number": NUMBERS, "date": [t for t in TIMES if len(t) == 10],
                "time": [t for t in TIMES if len(t) > 10]}[kind]
        condition["value"] = sorted(draw(st.lists(st.sampled_from(pool), min_size=2, max_size=2)), key=order_key)
    elif op not in ("exists", "not_exists"):
        condition["value"] = draw(ordered)
    return condition


@st.composite
def behaviour(draw):
    condition = {"event": draw(st.sampled_from(["e1", "e2"])), "op": draw(st.sampled_from(["did", "did_not"]))}
    if draw(st.booleans()):
        condition["min_count"] = draw(st.integers(1, 3))
    window = draw(st.sampled_from(["ever", "within", "between"]))
    if window == "within":
        condition["within_days"] = draw(st.integers(1, 5))
    elif window == "between":
        condition["between"] = sorted(draw(st.lists(st.sampled_from(TIMES), min_size=2, max_size=2)),
                                      key=order_key)
    if draw(st.booleans()):
        condition["where"] = draw(st.lists(comparison("property", ["p", "q"]), min_size=1, max_size=2))
    return condition


@st.composite
def conditions(draw, depth=0):
    kinds = ["attribute", "tag", "event"] + (["group"] if depth < 3 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "attribute":
        return draw(comparison("attribute", NAMES))
    if kind == "tag":
        return {"tag": draw(st.sampled_from(["t1", "t2"])), "op": draw(st.sampled_from(["has", "has_not"]))}
    if kind == "event":
        return draw(behaviour())
    members = draw(st.lists(conditions(depth + 1), min_size=1, max_size=3))
    return {draw(st.sampled_from(["all", "any"])): members}


rules = st.builds(lambda match, cs: {"type": "rules", "match": match, "conditions": cs},
                  st.sampled_from(["all", "any"]), st.lists(conditions(), max_size=4))
# event times: anywhere in the last week, on the edges of within_days windows, or on TIMES
offsets = st.one_of(st.integers(-150 * 60, 30 * 60).map(lambda m: timedelta(minutes=m)),
                    st.sampled_from([-1, 0, 1]).flatmap(lambda nudge: st.integers(1, 5).map(
                        lambda days: timedelta(days=-days, milliseconds=nudge))),
                    st.sampled_from(TIMES).map(lambda t: ref_at_level(ref_time(t), "time") - NOW))
stamps = st.builds(lambda offset, shown: shown(NOW + offset), offsets, st.sampled_from([
    lambda m: m.strftime("%Y-%m-%dT%H:%M:%S.") + f"{m.microsecond // 1000:03d}Z",
    lambda m: m.astimezone(timezone(timedelta(hours=8))).isoformat(),
    lambda m: m.astimezone(timezone(timedelta(hours=-2))).isoformat(timespec="minutes"),
    lambda m: m,
]))
events = st.tuples(stamps, st.dictionaries(st.sampled_from(["p", "q"]), fact_values, max_size=2))
facts = st.builds(
    UserFacts,
    attributes=st.dictionaries(st.sampled_from(NAMES), fact_values, max_size=3),
    tags=st.frozensets(st.sampled_from(["t1", "t2", "t3"])),
    events=st.dictionaries(st.sampled_from(["e1", "e2"]), st.lists(events, max_size=5), max_size=2),
)


def has_behaviour(raw):
    def walk(c):
        if "all" in c or "any" in c:
            return any(walk(x) for x in c.get("all", c.get("any")))
        return "event" in c
    return any(walk(c) for c in raw["conditions"])


def parts(raw_conditions):
    for condition in raw_conditions:
        yield condition
        yield from parts(condition.get("all", condition.get("any", [])))


@SETTINGS
@given(rules, facts)
def test_the_evaluator_agrees_with_the_naive_reference(raw, user_facts):
    source = parse_source(raw)
    assert matches(source, user_facts, NOW) == ref_matches(raw, user_facts, NOW)
    for condition in parts(raw["conditions"]):  # each part alone, so a wrong one cannot hide
        assert holds(condition, user_facts) == ref_condition(condition, user_facts, NOW), condition


@settings(max_examples=1500, deadline=None)
@given(comparison("attribute", ["a"]), st.one_of(st.just({}), fact_values.map(lambda v: {"a": v})))
def test_each_attribute_condition_agrees_with_the_reference(condition, attributes):
    facts = user(attributes)
    assert holds(condition, facts) == ref_condition(condition, facts, NOW)


@settings(max_examples=1500, deadline=None)
@given(behaviour(), st.lists(events, max_size=4))
def test_each_behaviour_condition_agrees_with_the_reference(condition, records):
    facts = user(events={condition["event"]: records})
    assert holds(condition, facts) == ref_condition(condition, facts, NOW)


@SETTINGS
@given(rules, facts)
def test_a_decision_from_the_profile_alone_never_contradicts_the_full_one(raw, user_facts):
    source = parse_source(raw)
    partial = evaluate_partial(source, user_facts.attributes, user_facts.tags)
    if partial is not None:
        assert partial == matches(source, user_facts, NOW)
    if not has_behaviour(raw):
        assert partial is not None


@SETTINGS
@given(rules, facts)
def test_reading_only_the_events_behaviour_needs_gives_the_same_decision(raw, user_facts):
    source = parse_source(raw)
    needs = behaviour_needs(source, NOW)
    read = {}
    for name, records in user_facts.events.items():
        if name in needs:
            earliest = needs[name]
            read[name] = [(s, p) for s, p in records
                          if earliest is None or ref_at_level(ref_fact_time(s), "time") >= earliest]
    trimmed = UserFacts(user_facts.attributes, user_facts.tags, read)
    assert matches(source, trimmed, NOW) == matches(source, user_facts, NOW)


@SETTINGS
@given(rules)
def test_a_rule_written_back_parses_to_the_same_rule(raw):
    source = parse_source(raw)
    assert parse_source(source.to_json()).to_json() == source.to_json()
    assert source.model_dump() == source.to_json()


# validation: a bad rule is a 400 naming the bad part by its path

BAD_RULES = [
    ("an unknown operator",
     [{"attribute": "city", "op": "equals", "value": "x"}], "source.conditions[0].op", "is not an operator"),
    ("the operator of a condition inside a group",
     [{"tag": "vip", "op": "has"}, {"any": [{"attribute": "city", "op": "like", "value": "x"}]}],
     "source.conditions[1].any[0].op", "is not an operator"),
    ("a missing value", [{"attribute": "age", "op": "gt"}], "source.conditions[0].value", "is required by gt"),
    ("a value where none is taken", [{"attribute": "age", "op": "exists", "value": 1}],
     "source.conditions[0].value", "exists takes no value"),
    ("between with one value", [{"attribute": "age", "op": "between", "value": [1]}],
     "source.conditions[0].value", "list of two values"),
    ("between with its values reversed", [{"attribute": "age", "op": "between", "value": [9, 1]}],
     "source.conditions[0].value", "lowest value first"),
    ("between a number and a date", [{"attribute": "age", "op": "between", "value": [1, "2024-01-01"]}],
     "source.conditions[0].value", "of one kind"),
    ("an empty in list", [{"attribute": "city", "op": "in", "value": []}],
     "source.conditions[0].value", "non-empty list"),
    ("an object in an in list", [{"attribute": "city", "op": "not_in", "value": ["a", {"b": 1}]}],
     "source.conditions[0].value[1]", "string, a number or true/false"),
    ("gt on a plain string", [{"attribute": "city", "op": "gt", "value": "Hangzhou"}],
     "source.conditions[0].value", "a number or an ISO date or time"),
    ("gt on a time without an offset", [{"attribute": "seen", "op": "gt", "value": "2024-01-01T10:00:00"}],
     "source.conditions[0].value", "needs an offset"),
    ("gt on a boolean", [{"attribute": "vip", "op": "gt", "value": True}],
     "source.conditions[0].value", "a number or an ISO date or time"),
    ("starts_with a number", [{"attribute": "city", "op": "starts_with", "value": 5}],
     "source.conditions[0].value", "takes a string"),
    ("contains an empty string", [{"attribute": "city", "op": "contains", "value": ""}],
     "source.conditions[0].value", "non-empty string"),
    ("a number DynamoDB cannot store", [{"attribute": "age", "op": "eq", "value": 1e200}],
     "source.conditions[0].value", "a number must be"),
    ("a badly formed attribute name", [{"attribute": "1city", "op": "exists"}],
     "source.conditions[0].attribute", "an attribute name is"),
    ("an unknown field", [{"attribute": "city", "op": "eq", "value": "x", "ignore_case": True}],
     "source.conditions[0].ignore_case", "unknown field"),
    ("a condition of no known kind", [{"segment": "x"}], "source.conditions[0]", 'name an "attribute"'),
    ("a condition that is not an object", ["city = x"], "source.conditions[0]", "must be a JSON object"),
    ("a bad tag operator", [{"tag": "vip", "op": "is"}], "source.conditions[0].op", "has or has_not"),
    ("a malformed tag", [{"tag": "a,b", "op": "has"}], "source.conditions[0].tag", "without commas"),
    ("a bad event operator", [{"event": "purchase", "op": "done"}], "source.conditions[0].op", "did or did_not"),
    ("within_days and between both",
     [{"event": "purchase", "op": "did", "within_days": 30, "between": ["2024-01-01", "2024-02-01"]}],
     "source.conditions[0].between", "within_days or between, not both"),
    ("between with one time", [{"event": "purchase", "op": "did", "between": ["2024-01-01"]}],
     "source.conditions[0].between", "list of two times"),
    ("between with the latest time first", [{"event": "purchase", "op": "did", "between": ["2024-02-01", "2024-01-01"]}],
     "source.conditions[0].between", "earliest time first"),
    ("between with a time that is not one",
     [{"event": "purchase", "op": "did", "between": ["2024-01-01", "next week"]}],
     "source.conditions[0].between[1]", "ISO date or a date-time with an offset"),
    ("a min_count as a string", [{"event": "purchase", "op": "did", "min_count": "2"}],
     "source.conditions[0].min_count", "written as a JSON number"),
    ("a min_count of zero", [{"event": "purchase", "op": "did", "min_count": 0}],
     "source.conditions[0].min_count", "greater than or equal to 1"),
    ("within_days of zero", [{"event": "purchase", "op": "did", "within_days": 0}],
     "source.conditions[0].within_days", "greater than or equal to 1"),
    ("a where condition (attribute-style) comparing a word",
     [{"event": "purchase", "op": "did", "where": [{"attribute": "amount", "op": "gt", "value": "x"}]}],
     "source.conditions[0].where[0].value", "number"),
    ("a bad operator in a where condition",
     [{"all": [{"event": "purchase", "op": "did", "where": [{"property": "amount", "op": "above", "value": 1}]}]}],
     "source.conditions[0].all[0].where[0].op", "is not an operator"),
    ("a group with both all and any", [{"all": [{"tag": "a", "op": "has"}], "any": [{"tag": "b", "op": "has"}]}],
     "source.conditions[0].any", "either all or any"),
    ("an empty group", [{"any": []}], "source.conditions[0].any", "at least one condition"),
    ("groups six deep",
     [{"all": [{"any": [{"all": [{"any": [{"all": [{"any": [{"tag": "a", "op": "has"}]}]}]}]}]}]}],
     "source.conditions[0].all[0].any[0].all[0].any[0].all[0]", "groups nest at most 5 deep"),
    ("51 conditions", [{"tag": "a", "op": "has"}] * 51, "source.conditions", "at most 50 conditions"),
    ("50 conditions counting the groups", [{"all": [{"tag": "a", "op": "has"}] * 25}] * 2,
     "source.conditions", "at most 50 conditions"),
]


@pytest.mark.parametrize("conditions, field, words", [b[1:] for b in BAD_RULES], ids=[b[0] for b in BAD_RULES])
def test_a_bad_rule_is_refused_at_the_path_of_the_bad_part(conditions, field, words):
    with pytest.raises(Invalid) as refused:
        parse_source({"type": "rules", "match": "all", "conditions": conditions})
    messages = {e.field: e.message for e in refused.value.errors}
    assert field in messages, messages
    assert words in messages[field]
    assert "Input should be '" not in messages[field] and "Literal" not in messages[field]


def test_five_groups_deep_and_fifty_conditions_are_accepted():
    deep = {"tag": "a", "op": "has"}
    for _ in range(5):
        deep = {"all": [deep]}
    parse_source({"type": "rules", "conditions": [deep]})
    parse_source({"type": "rules", "conditions": [{"tag": "a", "op": "has"}] * 50})


def test_a_hostile_rule_nested_a_thousand_deep_is_refused_without_recursing():
    deep = {"tag": "a", "op": "has"}
    for _ in range(1000):
        deep = {"any": [deep]}
    with pytest.raises(Invalid) as refused:
        parse_source({"type": "rules", "conditions": [deep]})
    assert "groups nest at most 5 deep" in refused.value.errors[0].message


def test_every_bad_part_is_named_and_the_prefix_is_the_callers():
    with pytest.raises(Invalid) as refused:
        parse_source({"type": "rules", "match": "most", "conditions": [
            {"attribute": "age", "op": "gt"}, {"tag": "vip", "op": "had"}]}, prefix="audience.source")
    fields = [e.field for e in refused.value.errors]
    assert fields == ["audience.source.match", "audience.source.conditions[0].value",
                      "audience.source.conditions[1].op"]


def test_a_rule_that_is_not_a_rules_source_is_refused_in_words():
    with pytest.raises(Invalid) as refused:
        parse_source({"type": "rfm", "conditions": []})
    assert {e.field: e.message for e in refused.value.errors}["source.type"] == 'must be "rules" for a rule audience'


def test_a_rule_over_32_kb_is_refused():
    big = [{"attribute": "city", "op": "in", "value": ["x" * 2000] * 20}]
    with pytest.raises(Invalid) as refused:
        parse_source({"type": "rules", "conditions": big})
    assert refused.value.errors[0].field == "source"
    assert "at most 32768 bytes" in refused.value.errors[0].message


def test_defaults_are_written_back_and_unset_values_are_not():
    source = rule({"attribute": "city", "op": "exists"}, {"event": "purchase", "op": "did"})
    assert source.to_json() == {"type": "rules", "match": "all", "conditions": [
        {"attribute": "city", "op": "exists"}, {"event": "purchase", "op": "did", "min_count": 1}]}


# semantics: numbers, strings, booleans

def test_numbers_compare_by_value_and_booleans_are_not_numbers():
    assert holds({"attribute": "age", "op": "eq", "value": 30}, user({"age": 30.0}))
    assert holds({"attribute": "age", "op": "eq", "value": 30}, user({"age": Decimal("30")}))
    assert not holds({"attribute": "vip", "op": "eq", "value": 1}, user({"vip": True}))
    assert not holds({"attribute": "vip", "op": "eq", "value": True}, user({"vip": 1}))
    assert holds({"attribute": "vip", "op": "eq", "value": False}, user({"vip": False}))
    assert holds({"attribute": "score", "op": "gt", "value": 2.5}, user({"score": Decimal("2.51")}))
    assert not holds({"attribute": "age", "op": "gt", "value": 5}, user({"age": "30"}))


def test_between_includes_both_ends():
    condition = {"attribute": "age", "op": "between", "value": [18, 30]}
    assert [holds(condition, user({"age": a})) for a in (17, 18, 30, 30.5)] == [False, True, True, False]


def test_strings_compare_exactly_and_contains_reads_lists_as_membership():
    assert not holds({"attribute": "city", "op": "eq", "value": "hangzhou"}, user({"city": "Hangzhou"}))
    assert holds({"attribute": "city", "op": "contains", "value": "zho"}, user({"city": "Hangzhou"}))
    assert holds({"attribute": "city", "op": "starts_with", "value": "Hang"}, user({"city": "Hangzhou"}))
    assert holds({"attribute": "interests", "op": "contains", "value": "tea"}, user({"interests": ["tea", "go"]}))
    assert not holds({"attribute": "interests", "op": "contains", "value": "te"}, user({"interests": ["tea"]}))
    assert holds({"attribute": "lucky", "op": "contains", "value": 7}, user({"lucky": [3, 7.0]}))
    assert not holds({"attribute": "interests", "op": "eq", "value": "tea"}, user({"interests": ["tea"]}))
    assert not holds({"attribute": "interests", "op": "starts_with", "value": "t"}, user({"interests": ["tea"]}))


MISMATCHES = [
    ("gt", 5, "30"), ("gt", 5, True), ("gt", 5, ["x"]), ("gt", 5, {"k": 1}), ("gt", 5, float("nan")),
    ("gte", 5, Decimal("NaN")), ("lte", "2024-01-01", 30), ("lte", "2024-01-01", "yesterday"),
    ("between", [1, 2], "1"), ("between", ["2024-01-01", "2024-02-01"], 20240115),
    ("contains", 5, "5"), ("contains", "x", 5), ("contains", "x", {"x": 1}),
    ("starts_with", "x", ["x"]), ("starts_with", "3", 30),
    ("eq", 5, "5"), ("eq", 1, True), ("eq", "true", True), ("in", [5, True], "5"), ("eq", 5, {"k": 5}),
]


@pytest.mark.parametrize("op, value, fact", MISMATCHES)
def test_a_type_mismatch_is_false_never_an_error(op, value, fact):
    assert not holds({"attribute": "v", "op": op, "value": value}, user({"v": fact}))


# semantics: missing attributes

@pytest.mark.parametrize("op, value", [("eq", "x"), ("in", ["x"]), ("gt", 1), ("gte", 1), ("lt", 1), ("lte", 1),
                                       ("between", [1, 2]), ("contains", "x"), ("starts_with", "x"),
                                       ("exists", None)])
def test_a_missing_attribute_fails_every_positive_operator(op, value):
    condition = {"attribute": "city", "op": op} | ({} if value is None else {"value": value})
    assert not holds(condition, user({}))
    assert not holds(condition, user({"city": None}))


@pytest.mark.parametrize("op, value", [("neq", "x"), ("not_in", ["x"]), ("not_exists", None)])
def test_neq_not_in_and_not_exists_hold_on_a_missing_attribute(op, value):
    condition = {"attribute": "city", "op": op} | ({} if value is None else {"value": value})
    assert holds(condition, user({}))
    assert holds(condition, user({"city": None}))


def test_neq_holds_on_another_type_and_exists_with_neq_requires_the_attribute():
    assert holds({"attribute": "age", "op": "neq", "value": "30"}, user({"age": 30}))
    both = rule({"attribute": "city", "op": "exists"}, {"attribute": "city", "op": "neq", "value": "x"})
    assert not matches(both, user({}), NOW)
    assert matches(both, user({"city": "y"}), NOW)


# semantics: ISO dates and times

def test_a_date_value_compares_by_the_utc_calendar_date():
    on_may_1 = {"attribute": "seen", "op": "eq", "value": "2024-05-01"}
    assert holds(on_may_1, user({"seen": "2024-05-01"}))
    assert holds(on_may_1, user({"seen": "2024-05-01T23:59:59Z"}))
    assert not holds(on_may_1, user({"seen": "2024-05-01T23:30:00-02:00"}))  # 2024-05-02 in UTC
    assert holds(on_may_1, user({"seen": "2024-05-02T07:00:00+08:00"}))      # 23:00 UTC on May 1
    assert holds({"attribute": "seen", "op": "lt", "value": "2024-05-02"}, user({"seen": "2024-05-01T23:59:59Z"}))
    assert holds({"attribute": "seen", "op": "lte", "value": "2024-05-01"}, user({"seen": "2024-05-01T23:59:59Z"}))


def test_a_date_time_value_compares_as_an_instant_whatever_the_offsets():
    at = {"attribute": "seen", "op": "eq", "value": "2024-05-01T00:00:00Z"}
    assert holds(at, user({"seen": "2024-05-01T08:00:00+08:00"}))
    assert holds(at, user({"seen": "2024-05-01"}))  # a date is midnight UTC
    assert holds(at, user({"seen": "2024-05-01T00:00Z"}))
    assert not holds(at, user({"seen": "2024-05-01T00:00:00.001Z"}))
    assert holds({"attribute": "seen", "op": "gt", "value": "2024-05-01T00:00:00Z"},
                 user({"seen": "2024-05-01T00:00:00.001Z"}))
    assert holds({"attribute": "seen", "op": "in", "value": ["2023-01-01", "2024-04-30T20:00:00-04:00"]},
                 user({"seen": "2024-05-01T00:00:00Z"}))


def test_strings_that_are_not_times_do_not_compare_as_times():
    after = {"attribute": "seen", "op": "gt", "value": "2024-01-01"}
    for text in ["2024-05-01T10:00:00", "2024/05/01", "20240501", "2024-W18-3", "2024-13-01", "May 1, 2024",
                 "2024-05-01T10:00:00.1234567Z", "2024-05-01 10:00:00Z"]:
        assert not holds(after, user({"seen": text})), text
    assert holds({"attribute": "seen", "op": "eq", "value": "2024-05-01T10:00:00"}, user({"seen": "2024-05-01T10:00:00"}))
    assert not holds({"attribute": "seen", "op": "eq", "value": "2024-05-01T10:00:00"},
                     user({"seen": "2024-05-01T10:00:00Z"}))


def test_a_number_never_compares_with_a_time():
    assert not holds({"attribute": "seen", "op": "gt", "value": "2024-01-01"}, user({"seen": 1714521600}))
    assert not holds({"attribute": "seen", "op": "gt", "value": 0}, user({"seen": "2024-05-01"}))


# semantics: tags

def test_tags_has_and_has_not():
    assert holds({"tag": "vip", "op": "has"}, user(tags={"vip", "new"}))
    assert not holds({"tag": "vip", "op": "has"}, user(tags={"VIP"}))
    assert holds({"tag": "vip", "op": "has_not"}, user(tags={"VIP"}))
    assert not holds({"tag": "vip", "op": "has_not"}, user(tags={"vip"}))


# semantics: behaviour

def purchases(*days_ago, **properties):
    return {"purchase": [((NOW - timedelta(days=d)).isoformat(), dict(properties)) for d in days_ago]}


def test_did_counts_events_within_the_last_days():
    twice_in_30 = {"event": "purchase", "op": "did", "min_count": 2, "within_days": 30}
    assert holds(twice_in_30, user(events=purchases(1, 29)))
    assert holds(twice_in_30, user(events=purchases(1, 30)))  # exactly 30 days ago counts
    assert not holds(twice_in_30, user(events=purchases(1, 30.001)))
    assert not holds(twice_in_30, user(events=purchases(1)))


def test_did_not_with_min_count_means_fewer_than_that_many_times():
    at_most_once = {"event": "purchase", "op": "did_not", "min_count": 2, "within_days": 30}
    assert holds(at_most_once, user(events={}))
    assert holds(at_most_once, user(events=purchases(3)))
    assert holds(at_most_once, user(events=purchases(3, 40, 50)))
    assert not holds(at_most_once, user(events=purchases(3, 4)))
    assert holds({"event": "purchase", "op": "did_not"}, user(events={"view": [(NOW.isoformat(), {})]}))


def test_an_event_slightly_in_the_future_counts_as_recent():
    assert holds({"event": "purchase", "op": "did", "within_days": 1}, user(events=purchases(-0.01)))


def test_between_dates_covers_whole_utc_days():
    in_may = {"event": "purchase", "op": "did", "between": ["2024-05-01", "2024-05-31"]}
    for stamp, counted in [("2024-05-01T00:00:00.000Z", True), ("2024-05-31T23:59:59.999Z", True),
                           ("2024-04-30T23:59:59.999Z", False), ("2024-06-01T00:00:00.000Z", False),
                           ("2024-05-01T07:00:00+08:00", False), ("2024-05-31T20:00:00-05:00", False)]:
        assert holds(in_may, user(events={"purchase": [(stamp, {})]}), now=datetime(2024, 7, 1, tzinfo=UTC)) is counted, stamp


def test_between_times_are_inclusive_instants():
    window = {"event": "purchase", "op": "did", "between": ["2024-05-01T09:00:00+08:00", "2024-05-01T10:00:00+08:00"]}
    assert holds(window, user(events={"purchase": [("2024-05-01T01:00:00.000Z", {})]}))
    assert holds(window, user(events={"purchase": [("2024-05-01T02:00:00.000Z", {})]}))
    assert not holds(window, user(events={"purchase": [("2024-05-01T02:00:00.001Z", {})]}))


def test_where_conditions_on_properties_all_must_hold():
    big_tea = {"event": "purchase", "op": "did", "where": [
        {"property": "amount", "op": "gte", "value": 100}, {"property": "sku", "op": "starts_with", "value": "tea-"}]}
    assert holds(big_tea, user(events=purchases(1, amount=150, sku="tea-1")))
    assert not holds(big_tea, user(events=purchases(1, amount=150, sku="cup-1")))
    assert not holds(big_tea, user(events=purchases(1, sku="tea-1")))
    twice_big = {"event": "purchase", "op": "did", "min_count": 2,
                 "where": [{"property": "amount", "op": "gt", "value": 10}]}
    events = {"purchase": [(NOW.isoformat(), {"amount": 20}), (NOW.isoformat(), {"amount": 5}),
                           (NOW.isoformat(), {"amount": 11})]}
    assert holds(twice_big, user(events=events))


def test_an_event_whose_time_cannot_be_read_is_not_counted():
    unreadable = {"purchase": [("yesterday", {}), ("2024-05-01T10:00:00", {}), (datetime(2024, 5, 1), {})]}
    assert not holds({"event": "purchase", "op": "did"}, user(events=unreadable))


# the builder's helpers

def test_behaviour_needs_names_each_event_with_its_earliest_time():
    source = rule({"event": "purchase", "op": "did", "within_days": 30},
                  {"any": [{"event": "purchase", "op": "did", "between": ["2024-01-01", "2024-02-01"]},
                           {"event": "view", "op": "did_not", "within_days": 7},
                           {"event": "signup", "op": "did"},
                           {"event": "signup", "op": "did", "within_days": 1}]},
                  {"attribute": "city", "op": "exists"})
    assert behaviour_needs(source, NOW) == {"purchase": datetime(2024, 1, 1, tzinfo=UTC),
                                            "view": NOW - timedelta(days=7), "signup": None}
    assert behaviour_needs(rule({"tag": "vip", "op": "has"}), NOW) == {}


def test_a_profile_decides_alone_when_behaviour_cannot_change_the_result():
    source = rule({"attribute": "city", "op": "eq", "value": "Hangzhou"}, {"event": "purchase", "op": "did"})
    assert evaluate_partial(source, {"city": "Shanghai"}, frozenset()) is False
    assert evaluate_partial(source, {"city": "Hangzhou"}, frozenset()) is None
    either = rule({"tag": "vip", "op": "has"}, {"event": "purchase", "op": "did"}, match="any")
    assert evaluate_partial(either, {}, frozenset({"vip"})) is True
    assert evaluate_partial(either, {}, frozenset()) is None
    assert evaluate_partial(rule(), {}, frozenset()) is True
    assert evaluate_partial(rule(match="any"), {}, frozenset()) is False


def test_a_compiled_rule_decides_as_its_source():
    source = rule({"attribute": "age", "op": "between", "value": ["2024-01-01", "2024-12-31"]})
    compiled = compile_rule(source)
    for facts in (user({"age": "2024-06-01"}), user({"age": "2025-01-01"})):
        assert matches(compiled, facts, NOW) == matches(source, facts, NOW)


def test_where_takes_attribute_style_conditions_as_api_md_pins_them():
    from chalicelib.audiences.schemas import parse_source

    as_attribute = parse_source({"type": "rules", "match": "all", "conditions": [
        {"event": "purchase", "op": "did", "where": [{"attribute": "amount", "op": "gte", "value": 100}]}]})
    as_property = parse_source({"type": "rules", "match": "all", "conditions": [
        {"event": "purchase", "op": "did", "where": [{"property": "amount", "op": "gte", "value": 100}]}]})

    assert as_attribute == as_property
