"""Reprs a user sees in a REPL or notebook: what the object is, not ``<object at 0x...>``."""

from __future__ import annotations

import chroma_frame
from chroma_frame import K, Knn, Search
from chroma_frame.execution import expression


def test_client_reprs(tmp_path) -> None:
    assert repr(chroma_frame.EphemeralClient()) == "EphemeralClient(tenant='default_tenant', database='default_database')"
    path = str(tmp_path / "db")
    assert repr(chroma_frame.PersistentClient(path)) == \
        f"PersistentClient(path={path!r}, tenant='default_tenant', database='default_database')"
    assert repr(chroma_frame.AdminClient()) == "AdminClient()"


def test_search_repr_is_the_builder_that_makes_it() -> None:
    searches = [
        Search(),
        Search().where(K("year") >= 2020).limit(5),
        Search().where((K("a") == 1) | K.DOCUMENT.contains("x")).rank(Knn(query=[1.0, 2.0], limit=32))
        .limit(3, offset=2).select(K.DOCUMENT, K.SCORE, "title"),
    ]
    namespace = {name: getattr(expression, name) for name in dir(expression) if not name.startswith("_")}
    for search in searches:
        text = repr(search)
        assert text.startswith("Search()") and "object at 0x" not in text
        assert eval(text, namespace).to_dict() == search.to_dict()  # noqa: S307 - our own repr
