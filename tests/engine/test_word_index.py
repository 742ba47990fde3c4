"""The word index's candidates hold every row whose document contains a pattern (soundness), and
filters reading documents through it agree with the pure-Python reference."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chroma_frame.engine import typed_index, word_index
from chroma_frame.engine.word_index import WordIndex
from chroma_frame.filters import parse_filter
from tests.filters.test_typed import _expected, _ids, _snapshot

_TEXT = st.text(alphabet="ab \n\t\u2003", max_size=8)


@settings(max_examples=200, deadline=None, database=None)
@given(documents=st.lists(st.one_of(st.none(), _TEXT), min_size=1, max_size=12),
       pattern=st.text(alphabet="ab \n\u2003", min_size=1, max_size=5))
def test_candidates_hold_every_match(documents, pattern):
    found = WordIndex(pa.chunked_array([pa.array(documents, pa.string())])).candidates(pattern)
    matching = {i for i, d in enumerate(documents) if d is not None and pattern in d}
    if pattern.split():  # some fragment: the index narrows
        assert found is not None and matching <= set(found.tolist())
        assert list(found) == sorted(set(found.tolist()))
    else:
        assert found is None


def test_candidates_narrow_by_words():
    index = WordIndex(pa.chunked_array([pa.array(["w1 w12 x", "w2 w3", None, "aw12", "w12b c"])]))
    assert index.candidates("w12").tolist() == [0, 3, 4]
    assert index.candidates(" w12").tolist() == [0, 4]  # a word starting with w12
    assert index.candidates("w12 ").tolist() == [0, 3]  # a word ending with w12
    assert index.candidates("w1 w12 x").tolist() == [0]
    assert index.candidates("zz").tolist() == []


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents=st.lists(st.one_of(st.none(), _TEXT), min_size=1, max_size=10), blockfiles=st.integers(0, 2),
       document=st.sampled_from([{"$contains": "a"}, {"$contains": "ab "}, {"$not_contains": " b"},
                                 {"$contains": "a b"}]))
def test_document_filters_through_the_index_match_reference(documents, blockfiles, document):
    parts = [[{"rowid": i, "id": f"r{i}", "op": 0, "metadata": {"k": i % 3}, "document": d}
              for i, d in enumerate(documents)]]
    snap = _snapshot(parts, blockfiles)
    node = parse_filter(None, document)
    typed_index.typed_matches(snap, node)  # asks for the word indexes
    word_index.wait_for_builds()
    found = typed_index.typed_matches(snap, node)
    assert found is not None  # every pattern above has a fragment: the index answers
    assert _ids(snap, found) == _expected(parts, node)
