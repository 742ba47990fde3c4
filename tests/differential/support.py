"""Helpers shared by the differential tests: run a call on both sides, compare outcomes and results.

"Expected" is always chromadb 1.5.9 (the oracle), "actual" is chroma_frame.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

# distances are compared with this tolerance (the task's contract: rel 1e-5, abs 1e-5)
REL_TOL = 1e-5
ABS_TOL = 1e-5

_PASS_THROUGH = (KeyboardInterrupt, SystemExit, GeneratorExit)


@dataclass
class Outcome:
    value: Any = None
    error: Optional[BaseException] = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def describe(self) -> str:
        if self.error is not None:
            return f"raised {type(self.error).__name__}({str(self.error)!r})"
        return f"returned {self.value!r}"


def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Outcome:
    """Call ``fn`` and capture its result or exception (PyO3 panics are BaseExceptions, kept too)."""
    try:
        return Outcome(value=fn(*args, **kwargs))
    except _PASS_THROUGH:
        raise
    except BaseException as exc:  # noqa: BLE001 - we compare whatever the oracle raises
        return Outcome(error=exc)


# Rust `validator` errors print their parameters from a HashMap, so chromadb's own order varies from
# run to run: 'length [{"min": Number(3), "value": String("ab")}]' or '[{"value": ..., "min": ...}]'
_VALIDATOR_PARAMS = re.compile(r"\[\{(\"[^{}]*?)\}\]")


# chromadb builds "Exactly one of images, uris, documents must be provided" from a Python set, so its
# order changes with PYTHONHASHSEED
_SET_LIST = re.compile(r"(Exactly one of |At least one of one of )([a-z, ]+?)( must be provided)")


def _canonical_message(message: str) -> str:
    message = _VALIDATOR_PARAMS.sub(
        lambda m: "[{" + ", ".join(sorted(re.split(r', (?=")', m.group(1)))) + "}]", message
    )
    return _SET_LIST.sub(lambda m: m.group(1) + ", ".join(sorted(m.group(2).split(", "))) + m.group(3), message)


def error_key(exc: BaseException) -> tuple[str, str]:
    """What must agree between the two libraries for a failing call: class name and message."""
    return type(exc).__name__, _canonical_message(str(exc))


def check_outcomes(expected: Outcome, actual: Outcome, what: str) -> bool:
    """Assert both sides failed the same way or both succeeded; True if both succeeded."""
    if expected.ok and actual.ok:
        return True
    if expected.ok or actual.ok:
        raise AssertionError(
            f"{what}:\n  chromadb     {expected.describe()}\n  chroma_frame {actual.describe()}"
        )
    assert error_key(expected.error) == error_key(actual.error), (
        f"{what}: different errors\n  chromadb     {expected.describe()}\n  chroma_frame {actual.describe()}"
    )
    return False


def typed(value: Any) -> Any:
    """A comparable form that keeps scalar types apart (1, 1.0 and True are different values)
    and ignores dict key order."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [typed(v) for v in value]
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else value)
    if value is None:
        return None
    return (type(value).__name__, value)


def assert_same_typed(expected: Any, actual: Any, what: str) -> None:
    assert typed(expected) == typed(actual), f"{what}:\n  chromadb     {expected!r}\n  chroma_frame {actual!r}"


def assert_same_embeddings(expected: Any, actual: Any, what: str) -> None:
    if expected is None or actual is None:
        assert expected is None and actual is None, f"{what}: chromadb {expected!r}, chroma_frame {actual!r}"
        return
    assert isinstance(actual, np.ndarray) == isinstance(expected, np.ndarray), (
        f"{what}: chromadb gives {type(expected).__name__}, chroma_frame {type(actual).__name__}"
    )
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.size == 0 and a.size == 0:
        return
    assert e.shape == a.shape, f"{what}: shapes {e.shape} vs {a.shape}\n  chromadb {e!r}\n  chroma_frame {a!r}"
    assert np.allclose(e, a, rtol=1e-5, atol=1e-6), f"{what}:\n  chromadb     {e!r}\n  chroma_frame {a!r}"


def close(x: float, y: float) -> bool:
    return math.isclose(x, y, rel_tol=REL_TOL, abs_tol=ABS_TOL)


GET_KEYS = {"ids", "embeddings", "documents", "uris", "data", "metadatas", "included"}
QUERY_KEYS = GET_KEYS | {"distances"}


def assert_same_get(expected: dict, actual: dict, what: str) -> None:
    """GetResult equality: ids in order, every field, ``included``."""
    assert set(actual.keys()) == set(expected.keys()), f"{what}: keys {sorted(expected)} vs {sorted(actual)}"
    assert actual["ids"] == expected["ids"], f"{what}: ids\n  chromadb     {expected['ids']}\n  chroma_frame {actual['ids']}"
    assert list(actual["included"]) == list(expected["included"]), (
        f"{what}: included {expected['included']} vs {actual['included']}"
    )
    for field in ("documents", "uris", "data", "metadatas"):
        assert_same_typed(expected[field], actual[field], f"{what}: {field}")
    assert_same_embeddings(expected["embeddings"], actual["embeddings"], f"{what}: embeddings")


def assert_same_query(expected: dict, actual: dict, full: dict, n_results: int, what: str) -> None:
    """QueryResult equality, tolerant of ties.

    ``full`` is chromadb's answer to the same query with every field included and an n_results
    large enough to return every candidate: it gives each candidate id its record and distance.
    Ids must come in the same order, except that records at (approximately) equal distances may
    come in any order, and of the group of equal distances cut by ``n_results`` any members may be
    returned."""
    assert set(actual.keys()) == set(expected.keys()), f"{what}: keys {sorted(expected)} vs {sorted(actual)}"
    assert list(actual["included"]) == list(expected["included"]), (
        f"{what}: included {expected['included']} vs {actual['included']}"
    )
    for field in ("embeddings", "documents", "uris", "data", "metadatas", "distances"):
        if expected[field] is None or actual[field] is None:
            assert expected[field] is None and actual[field] is None, (
                f"{what}: {field} chromadb {expected[field]!r}, chroma_frame {actual[field]!r}"
            )
        else:
            assert len(actual[field]) == len(expected[field]), f"{what}: {field} has a different number of queries"
    assert len(actual["ids"]) == len(expected["ids"]), f"{what}: number of queries"
    for q, (exp_ids, act_ids) in enumerate(zip(expected["ids"], actual["ids"])):
        w = f"{what} [query {q}]"
        records = {
            rid: {
                "distance": full["distances"][q][k],
                "document": full["documents"][q][k],
                "metadata": full["metadatas"][q][k],
                "embedding": full["embeddings"][q][k],
            }
            for k, rid in enumerate(full["ids"][q])
        }
        detail = (
            f"\n  chromadb     {exp_ids} {expected['distances'][q] if expected['distances'] else ''}"
            f"\n  chroma_frame {act_ids} {actual['distances'][q] if actual['distances'] else ''}"
            f"\n  all candidates (chromadb) {[(i, r['distance']) for i, r in records.items()]}"
        )
        assert len(act_ids) == len(exp_ids), f"{w}: number of results{detail}"
        assert len(set(act_ids)) == len(act_ids), f"{w}: repeated ids{detail}"
        unknown = [i for i in act_ids if i not in records]
        assert not unknown, f"{w}: ids {unknown} are not candidates for chromadb{detail}"
        exp_d = [records[i]["distance"] for i in exp_ids if i in records]
        act_d = [records[i]["distance"] for i in act_ids]
        if len(exp_d) == len(exp_ids):  # chromadb's own answer agrees with its full answer
            assert all(close(x, y) for x, y in zip(exp_d, act_d)), f"{w}: ids in a different order{detail}"
        for k, rid in enumerate(act_ids):
            rec = records[rid]
            if actual["distances"] is not None:
                got = actual["distances"][q][k]
                assert close(got, rec["distance"]), f"{w}: distance of {rid} is {got}, chromadb {rec['distance']}{detail}"
                assert close(expected["distances"][q][k], got), f"{w}: distance #{k}{detail}"
            if actual["documents"] is not None:
                assert_same_typed(rec["document"], actual["documents"][q][k], f"{w}: document of {rid}")
            if actual["metadatas"] is not None:
                assert_same_typed(rec["metadata"], actual["metadatas"][q][k], f"{w}: metadata of {rid}")
            if actual["embeddings"] is not None:
                assert_same_embeddings(rec["embedding"], actual["embeddings"][q][k], f"{w}: embedding of {rid}")
        if actual["embeddings"] is not None:
            assert isinstance(actual["embeddings"][q], np.ndarray) == isinstance(expected["embeddings"][q], np.ndarray), (
                f"{w}: embeddings container: chromadb {type(expected['embeddings'][q]).__name__}, "
                f"chroma_frame {type(actual['embeddings'][q]).__name__}"
            )
        for field in ("uris", "data"):
            if expected[field] is not None:
                assert_same_typed(expected[field][q], actual[field][q], f"{w}: {field}")
