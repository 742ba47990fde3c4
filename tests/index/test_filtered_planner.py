"""The planner's two ways to answer a filtered query on an indexed collection, each checked
against exact search: an exact scan of the filter's matches (selective filters) and a graph walk
with the matches as the allowed nodes (broad ones)."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chroma_frame.engine.collection import CollectionEngine
from tests.index.test_index import SPACES, _check_against_exact, _data, _open, built  # noqa: F401 - fixture

_FILTERS = st.one_of(
    st.lists(st.integers(0, 9), min_size=1, max_size=10, unique=True).map(lambda g: {"g": {"$in": g}}),
    st.sampled_from([{"even": True}, {"$and": [{"even": False}, {"g": {"$gte": 3}}]}, {"g": {"$ne": 4}}]),
)


@pytest.mark.parametrize("scan", [True, False])
@settings(max_examples=12, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(space=st.sampled_from(SPACES), where=_FILTERS, seed=st.integers(0, 1000), k=st.integers(1, 15))
def test_both_plans_match_exact_search(built, monkeypatch, scan, space, where, seed, k):  # noqa: F811
    monkeypatch.setattr(CollectionEngine, "_scan_wins", staticmethod(lambda *_: scan))
    col = _open(built, space)
    # the scan is exact; the walk (ef 64 on 1,200 rows) keeps the graph's recall
    _check_against_exact(col, _data(seed, 8), k, where=where, min_recall=0.999 if scan else 0.9)


def test_selective_filters_are_scanned_broad_ones_walked():
    live, ef = 1_000_000, 100
    assert CollectionEngine._scan_wins(10_000, live, ef)  # 1%: always scanned (a walk would lose recall)
    assert CollectionEngine._scan_wins(50_000, live, ef)  # 5%: the scan is cheaper at 1M
    assert not CollectionEngine._scan_wins(500_000, live, ef)  # 50%: the walk meets ef allowed nodes fast
    assert CollectionEngine._scan_wins(50_000, 200_000, ef)  # 25% of 200k: still the scan
    assert not CollectionEngine._scan_wins(6_000_000, 100_000_000, ef)  # 6% of 100M: the walk
