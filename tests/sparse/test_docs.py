"""The Python examples of docs/fulltext.md run, as one script, in a fresh interpreter."""

from tests.interop import test_docs as interop_docs


def test_fulltext_page_examples_run():
    interop_docs.test_doc_examples_run("fulltext.md")
