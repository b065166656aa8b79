"""Values and steps no store can hold are refused at the call, naming the key; nothing logged before is lost.

Before, these passed ``log()`` and then failed in the writer (the record lost, a background error) or,
for a NUL in a key, broke every later ``store.sql`` query. Each test logs good records, makes the bad
call, and then checks the good records, the run's status and a query on a reopened store.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from tests.conftest import engine_rows, fast_run

import recordkit as rk
from recordkit import _values as V

pytestmark = pytest.mark.backends("sqlite", "postgres")


def _nested(depth: int) -> list[object]:
    value: list[object] = []
    for _ in range(depth):
        value = [value]
    return value


# (id, record, error class, text the message must hold)
REFUSED = [
    pytest.param({"big": 2**70}, ValueError, "'big' is an int outside signed 64 bits", id="2**70"),
    pytest.param({"big": 2**63}, ValueError, "'big' is an int outside signed 64 bits", id="2**63"),
    pytest.param({"big": -(2**63) - 1}, ValueError, "'big' is an int outside signed 64 bits", id="-2**63-1"),
    pytest.param({"big": np.uint64(2**64 - 1)}, ValueError, "'big' is an int outside signed 64 bits", id="uint64"),
    pytest.param({"big": np.array([1, 2**64 - 1], dtype=np.uint64)}, ValueError, "'big' is a uint64 array",
                 id="uint64-array"),
    pytest.param({"big": [1, {"n": 2**70}]}, ValueError, "'big' cannot be stored: a nested value is an int",
                 id="nested-int"),
    pytest.param({"text": "ok\udcff"}, ValueError, "'text' holds a lone surrogate", id="surrogate"),
    pytest.param({"text": ["\ud800"]}, ValueError, "'text' cannot be stored: a nested value holds a lone",
                 id="nested-surrogate"),
    pytest.param({"text": "a\x00b"}, ValueError, "'text' holds a NUL character", id="nul-value"),
    pytest.param({"a\x00b": 1.0}, ValueError, r"record key 'a\\x00b' holds a NUL", id="nul-key"),
    pytest.param({"\udcff": 1.0}, ValueError, r"record key '\\udcff' holds a lone surrogate", id="surrogate-key"),
    # run.log flattens the dict first (the key d/a\x00); a scope field keeps it as a value.
    pytest.param({"d": {"a\x00": 1}}, ValueError, r"'d' cannot be stored: dict key|record key 'd/a\\x00' holds a NUL",
                 id="nul-dict-key"),
    pytest.param({"deep": _nested(600)}, ValueError, "'deep' cannot be stored: lists and dicts nest deeper than 100",
                 id="nesting-600"),
]


@pytest.mark.parametrize(("record", "error", "message"), REFUSED)
def test_check_record_refuses_naming_the_key(record: dict[str, object], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        V.check_record({"fine": 1.0, **record})


def test_values_at_the_limits_pass() -> None:
    record = {"low": -(2**63), "high": 2**63 - 1, "u": np.uint64(2**63 - 1), "text": "héllo ✓",
              "deep": _nested(V.MAX_DEPTH - 1)}
    assert V.check_record(record)["high"] == 2**63 - 1


def test_a_cycle_is_refused_by_the_depth_limit() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="'loop' cannot be stored: lists and dicts nest deeper"):
        V.check_record({"loop": loop})


def _assert_intact(store: rk.Store, run_id: str, expected: list[float]) -> None:
    run = store.run(run_id)
    assert str(run.status) == "finished"
    assert [r["x"] for r in run.records] == expected
    if store.backend.url.startswith("postgresql") is False:  # store.sql() is SQLite's
        assert store.sql("select count(*) from runs").rows == [(1,)]
        assert store.sql("select count(*) from records").rows == [(len(expected),)]
    else:  # PostgreSQL's own SQL, on a new connection
        assert engine_rows(store, "select count(*) from runs") == [(1,)]


def _reopen(fresh_store: rk.Store, store_url: str, store_kind: str) -> rk.Store:
    fresh_store.close()
    return rk.open(store_url, files=fresh_store.path) if store_kind == "postgres" else rk.open(store_url)


@pytest.mark.parametrize(("record", "error", "message"), REFUSED)
def test_refused_at_the_call_and_nothing_logged_is_lost(
    fresh_store: rk.Store, store_url: str, store_kind: str, record: dict[str, object], error: type, message: str
) -> None:
    _refused_and_intact(fresh_store, store_url, store_kind, record, error, message)


def _refused_and_intact(
    fresh_store: rk.Store, store_url: str, store_kind: str, record: dict[str, object], error: type, message: str
) -> None:
    """The bad record raises at run.log, scope.log and run.scope; the good records and queries survive."""
    run = fast_run(fresh_store.collection("study"))
    run.log(x=1.0)
    scope = run.scope(phase="train")
    with pytest.raises(error, match=message):
        run.log({"x": 2.0, **record})
    with pytest.raises(error, match=message):
        scope.log(record)
    with pytest.raises(error, match=message):
        run.scope(**{k: v for k, v in record.items()})
    scope.log(x=3.0)
    run.flush()  # no background error: the bad records never reached the writer
    run.finish()
    store = _reopen(fresh_store, store_url, store_kind)
    try:
        _assert_intact(store, run.id, [1.0, 3.0])
    finally:
        store.close()


def test_rk_log_refuses_at_the_call(fresh_store: rk.Store) -> None:
    run = rk.init("study", store=fresh_store, capture=False)
    try:
        rk.log(x=1.0)
        with pytest.raises(ValueError, match="'big' is an int outside signed 64 bits"):
            rk.log(big=2**70)
        with pytest.raises(TypeError, match="step must be a non-negative int"):
            rk.log(x=2.0, step=1.5)  # type: ignore[arg-type]
    finally:
        rk.finish()
    assert [r["x"] for r in fresh_store.collection("study").records] == [1.0]
    assert str(run.status) == "finished"


def test_event_data_follows_the_same_rules(fresh_store: rk.Store) -> None:
    run = fast_run(fresh_store.collection("study"))
    with pytest.raises(ValueError, match="'n' is an int outside signed 64 bits"):
        run.event("bad", n=2**64)
    with pytest.raises(ValueError, match="'s' holds a NUL"):
        run.event("bad", s="\x00")
    run.event("good", n=2**63 - 1)
    run.finish()
    assert [e.data for e in run.events.named("good")] == [{"n": 2**63 - 1}]


@pytest.mark.parametrize(
    ("step", "error", "message"),
    [
        pytest.param(True, TypeError, "step must be a non-negative int, got True", id="bool"),
        pytest.param(1.5, TypeError, "step must be a non-negative int, got 1.5", id="float"),
        pytest.param(2.0, TypeError, r"got 2.0 \(float\); pass int\(step\)", id="whole-float"),
        pytest.param(float("nan"), TypeError, "got nan", id="nan"),
        pytest.param("3", TypeError, "got '3' \\(str\\)", id="str"),
        pytest.param(np.float64(3), TypeError, "step must be a non-negative int", id="numpy-float"),
        pytest.param(-1, ValueError, "step must be a non-negative int below 2\\*\\*63, got -1", id="negative"),
        pytest.param(2**63, ValueError, "below 2\\*\\*63, got 9223372036854775808", id="2**63"),
        pytest.param(2**70, ValueError, "below 2\\*\\*63", id="2**70"),
    ],
)
def test_bad_steps_are_refused_at_the_call(
    fresh_store: rk.Store, store_url: str, store_kind: str, step: object, error: type, message: str
) -> None:
    run = fast_run(fresh_store.collection("study"))
    run.log(x=1.0, step=1)
    with pytest.raises(error, match=message):
        run.log(x=9.0, step=step)  # type: ignore[arg-type]
    with pytest.raises(error, match=message):
        run.scope(k=1).log(x=9.0, step=step)  # type: ignore[arg-type]
    assert run.step == 1  # the counter did not move
    run.log(x=2.0, step=np.int64(2))  # type: ignore[arg-type]  # numpy ints are steps
    run.finish()
    store = _reopen(fresh_store, store_url, store_kind)
    try:
        records = list(store.run(run.id).records)
        assert [(r["step"], r["x"]) for r in records] == [(1, 1.0), (2, 2.0)]
        assert [type(r["step"]) for r in records] == [int, int]
    finally:
        store.close()


def test_the_largest_step_round_trips(fresh_store: rk.Store) -> None:
    run = fast_run(fresh_store.collection("study"))
    run.log(x=1.0, step=2**63 - 1)
    run.finish()
    assert [r["step"] for r in run.records] == [2**63 - 1]
    with pytest.raises(ValueError, match="below 2\\*\\*63"):
        run.next_step()


@pytest.mark.parametrize(
    ("start", "error", "message"),
    [
        pytest.param({"name": "run\x00one"}, ValueError, r"run name 'run\\x00one' holds a NUL", id="nul-run-name"),
        pytest.param({"tags": ["ok", "t\udcff"]}, ValueError, "tag 't\\\\udcff' holds a lone surrogate", id="tag"),
        pytest.param({"config": {"opt": {"name": "a\x00"}}}, rk.ConfigError, "config value 'opt.name' holds a NUL",
                     id="nul-config-value"),
        pytest.param({"config": {"paths": ["ok", "\ud800"]}}, rk.ConfigError, r"config value 'paths\[1\]' holds a lone",
                     id="surrogate-config-item"),
        pytest.param({"config": {"k\x00": 1}}, rk.ConfigError, "config key 'k\\\\x00' at '\\(root\\)' holds a NUL",
                     id="nul-config-key"),
    ],
)
def test_runs_with_unstorable_text_are_refused_before_they_exist(
    fresh_store: rk.Store, start: dict[str, object], error: type, message: str
) -> None:
    col = fresh_store.collection("study")
    kept = fast_run(col, config={"big": 2**70})  # ints of any size are fine in a config: JSON holds them
    kept.log(x=1.0)
    kept.finish()
    with pytest.raises(error, match=message):
        fast_run(col, **start)
    assert [r.id for r in col.runs()] == [kept.id] and kept.config["big"] == 2**70
    assert [r["x"] for r in col.records] == [1.0]


def test_event_and_file_names_with_lone_surrogates_are_refused(fresh_store: rk.Store) -> None:
    run = fast_run(fresh_store.collection("study"))
    with pytest.raises(rk.InvalidNameError, match="is not allowed"):
        run.event("eval/\udcff")
    with pytest.raises(rk.InvalidNameError, match="is not allowed"):
        run.attach(b"x", name="plot\udcff.png")
    run.event("eval/done")
    run.flush()  # nothing unstorable reached the writer
    run.finish()
    assert [e.name for e in run.events if e.name.startswith("eval")] == ["eval/done"]


def _tensor(values: object, dtype: str, **kwargs: object) -> object:
    torch = pytest.importorskip("torch")
    return torch.tensor(values, dtype=getattr(torch, dtype), **kwargs)


# Values of kinds no store holds (numpy and torch dtypes, complex numbers): (id, make the value, error, message).
# Made lazily, so that torch is imported only by the tests that need it.
UNSTORABLE_KINDS = [
    pytest.param(lambda: 1 + 2j, TypeError, r"'z' is complex \(1\+2j\), which no store holds as a number; "
                 r"log its parts", id="complex"),
    pytest.param(lambda: [1.0, 2j], TypeError, "'z' cannot be stored: a nested value is complex 2j",
                 id="nested-complex"),
    pytest.param(lambda: np.complex128(1j), TypeError, "'z' is numpy complex128, which no store holds",
                 id="np-complex"),
    pytest.param(lambda: np.array([1j, 2]), TypeError, "'z' is numpy complex128", id="np-complex-array"),
    pytest.param(lambda: [np.array([1j])], TypeError, "'z' cannot be stored: a nested value is numpy complex128",
                 id="nested-np-complex"),
    pytest.param(lambda: _tensor([1j], "complex64"), TypeError, "'z' is a torch.complex64 tensor, which no store",
                 id="torch-complex"),
    pytest.param(lambda: _tensor([2**63], "uint64"), TypeError, r"'z' is a torch.uint64 tensor.*\.to\(torch.int64\)",
                 id="torch-uint64"),
    pytest.param(lambda: _tensor(1, "uint64"), TypeError, "'z' is a torch.uint64 tensor", id="torch-uint64-small"),
    pytest.param(lambda: _tensor([1.0, 0.0], "float32").to_sparse(), TypeError,  # type: ignore[attr-defined]
                 r"layout torch.sparse_coo; log tensor.to_dense\(\)", id="torch-sparse"),
    pytest.param(lambda: _tensor([1.0], "float32", device="meta"), TypeError, "'z' is a tensor on the meta device",
                 id="torch-meta"),
    pytest.param(lambda: np.array([b"a", b"b"]), TypeError, r"'z' is numpy bytes8.*decode it to text", id="np-bytes"),
    pytest.param(lambda: np.bytes_(b"a"), TypeError, "'z' is numpy bytes8", id="np-bytes-scalar"),
    pytest.param(lambda: b"raw", TypeError, r"'z' is bytes b'raw'.*value.decode\(\).*run.attach\(\)", id="bytes"),
    pytest.param(lambda: np.array(["ok", "a\x00b"]), ValueError, "'z' cannot be stored: a nested value holds a NUL",
                 id="np-str-nul"),
    pytest.param(lambda: np.array(["\udcff"]), ValueError, "'z' holds a lone surrogate", id="np-str-surrogate"),
    pytest.param(lambda: np.array([1, object()], dtype=object), TypeError, "'z' cannot be stored: object <object",
                 id="np-object"),
    pytest.param(lambda: np.array([1, 2**70], dtype=object), ValueError,
                 "'z' cannot be stored: a nested value is an int", id="np-object-bigint"),
    pytest.param(lambda: np.array(["2026-01-01"], dtype="datetime64[ns]"), TypeError,
                 r"'z' is numpy datetime64\[ns\].*astype\('datetime64\[us\]'\)", id="np-datetime64"),
    pytest.param(lambda: np.array([1], dtype="timedelta64[s]"), TypeError, "'z' is numpy timedelta64",
                 id="np-timedelta"),
    pytest.param(lambda: np.zeros(2, dtype=[("a", "i4")]), TypeError, "'z' is numpy void", id="np-structured"),
]


@pytest.mark.parametrize(("make", "error", "message"), UNSTORABLE_KINDS)
def test_unstorable_kinds_are_refused_at_the_call(
    fresh_store: rk.Store, store_url: str, store_kind: str, make: Callable[[], object], error: type, message: str
) -> None:
    value = make()
    with pytest.raises(error, match=message):
        V.check_record({"fine": 1.0, "z": value})
    _refused_and_intact(fresh_store, store_url, store_kind, {"z": value}, error, message)


# Arrays and tensors of these kinds are stored exactly; (id, make the value, what a record reads back).
STORED_KINDS = [
    pytest.param(lambda: np.array(["a", "bb"]), ["a", "bb"], id="np-str"),
    pytest.param(lambda: np.array(["héllo ✓"]), "héllo ✓", id="np-str-one"),
    pytest.param(lambda: np.array([1, "x", None, [2.5]], dtype=object), [1, "x", None, [2.5]], id="np-object"),
    pytest.param(lambda: np.array([2**63 - 1], dtype=np.uint64), 2**63 - 1, id="np-uint64-in-range"),
    pytest.param(lambda: _tensor([2**32 - 1], "uint32"), 2**32 - 1, id="torch-uint32"),
    pytest.param(lambda: _tensor([1.5, -2.0], "bfloat16"), [1.5, -2.0], id="torch-bfloat16"),
    pytest.param(lambda: _tensor([True, False], "bool"), [True, False], id="torch-bool"),
]


@pytest.mark.parametrize(("make", "expected"), STORED_KINDS)
def test_storable_kinds_round_trip(fresh_store: rk.Store, make: Callable[[], object], expected: object) -> None:
    run = fast_run(fresh_store.collection("study"))
    run.log({"z": make()})
    run.finish()
    assert [r["z"] for r in run.records] == [expected]
