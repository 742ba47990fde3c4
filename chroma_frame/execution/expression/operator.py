"""Chroma's ``chromadb.execution.expression.operator`` import path (the classes live in sibling modules)."""

from chroma_frame.execution.expression.group import Aggregate, GroupBy, MaxK, MinK
from chroma_frame.execution.expression.rank import (
    Abs,
    Div,
    Exp,
    Knn,
    Log,
    Max,
    Min,
    Mul,
    Rank,
    Rrf,
    Sub,
    Sum,
    Val,
)
from chroma_frame.execution.expression.select import Limit, Select
from chroma_frame.execution.expression.where import (
    And,
    Contains,
    Eq,
    Gt,
    Gte,
    In,
    K,
    Key,
    Lt,
    Lte,
    Ne,
    Nin,
    NotContains,
    NotRegex,
    Or,
    Regex,
    Where,
)

__all__ = [
    "Abs", "Aggregate", "And", "Contains", "Div", "Eq", "Exp", "GroupBy", "Gt", "Gte", "In", "K", "Key",
    "Knn", "Limit", "Log", "Lt", "Lte", "Max", "MaxK", "Min", "MinK", "Mul", "Ne", "Nin", "NotContains",
    "NotRegex", "Or", "Rank", "Regex", "Rrf", "Select", "Sub", "Sum", "Val", "Where",
]
