"""The Search API: ``from chroma_frame.execution.expression import Search, K, Knn, Rrf, Val, ...``.

Same names, constructors, operators and wire format (``to_dict`` / ``from_dict``) as
``chromadb.execution.expression`` 1.5.9. ``Collection.search`` runs them (``chroma_frame/search``).
"""

from chroma_frame.execution.expression.operator import (
    Abs,
    Aggregate,
    And,
    Contains,
    Div,
    Eq,
    Exp,
    GroupBy,
    Gt,
    Gte,
    In,
    K,
    Key,
    Knn,
    Limit,
    Log,
    Lt,
    Lte,
    Max,
    MaxK,
    Min,
    MinK,
    Mul,
    Ne,
    Nin,
    NotContains,
    NotRegex,
    Or,
    Rank,
    Regex,
    Rrf,
    Select,
    Sub,
    Sum,
    Val,
    Where,
)
from chroma_frame.execution.expression.plan import Search

SearchWhere = Where

__all__ = [
    "Search", "Key", "K", "SearchWhere", "Where", "And", "Or", "Eq", "Ne", "Gt", "Gte", "Lt", "Lte", "In",
    "Nin", "Regex", "NotRegex", "Contains", "NotContains", "Limit", "Select", "Rank", "Abs", "Div", "Exp",
    "Log", "Max", "Min", "Mul", "Knn", "Rrf", "Sub", "Sum", "Val", "Aggregate", "MinK", "MaxK", "GroupBy",
]
