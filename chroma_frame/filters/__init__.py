"""``where`` / ``where_document`` filters: parse (validate like Chroma) -> AST -> DuckDB SQL.

- ``parse_filter(where, where_document)``: the only parser; raises Chroma's errors.
- ``compile_filter(node)``: a boolean expression over ``records`` with ``$n`` parameters.
- ``matches(node, record)``: the pure-Python reference semantics.
"""

from chroma_frame.filters.ast import Node
from chroma_frame.filters.compile import CompiledFilter, compile_filter
from chroma_frame.filters.parse import parse_filter
from chroma_frame.filters.reference import matches

__all__ = ["CompiledFilter", "Node", "compile_filter", "matches", "parse_filter"]
