"""Bad filters and the error Chroma 1.5.9 raises for each (class name, message without " in get.").

Checked against chromadb in test_against_chroma.py; checked against parse_filter in test_parse.py.
"""

from __future__ import annotations

VE, TE, IA = "ValueError", "TypeError", "InvalidArgumentError"
_OPS = "$gt, $gte, $lt, $lte, $ne, $eq, $in, $nin, $contains, $not_contains"
_DOC_OPS = "$contains, $not_contains, $regex, $not_regex, $and, $or"


def _regex(pattern: str, caret: str, message: str) -> str:
    return f"Regex syntax errror: regex parse error:\n    {pattern}\n    {caret}\nerror: {message}"


BAD_WHERE = [
    ({}, VE, "Expected where to have exactly one operator, got {}"),
    ("x", VE, "Expected where to be a dict, got x"),
    ({"a": 1, "b": 2}, VE, "Expected where to have exactly one operator, got {'a': 1, 'b': 2}"),
    ({1: 1}, VE, "Expected where key to be a str, got 1"),
    ({"$contains": "x"}, VE, "Expected where key to be a metadata field name or a logical operator ($and, $or), got $contains"),
    ({"$not_contains": 1}, VE, "Expected where key to be a metadata field name or a logical operator ($and, $or), got $not_contains"),
    ({"i": None}, VE, "Expected where value to be a str, int, float, or operator expression, got None"),
    ({"i": [1]}, VE, "Expected where value to be a str, int, float, or operator expression, got [1]"),
    ({"i": (1, 2)}, VE, "Expected where value to be a str, int, float, or operator expression, got (1, 2)"),
    ({"$and": {"i": 1}}, VE, "Expected where value for $and or $or to be a list of where expressions, got {'i': 1}"),
    ({"$or": None}, VE, "Expected where value for $and or $or to be a list of where expressions, got None"),
    ({"$and": [{"i": 1}]}, VE, "Expected where value for $and or $or to be a list with at least two where expressions, got [{'i': 1}]"),
    ({"$or": []}, VE, "Expected where value for $and or $or to be a list with at least two where expressions, got []"),
    ({"$and": [{"i": 1}, "x"]}, VE, "Expected where to be a dict, got x"),
    ({"$and": [{"i": 1}, {}]}, VE, "Expected where to have exactly one operator, got {}"),
    ({"$or": [{"i": 1}, {"$and": [{"i": 1}, {"i": None}]}]}, VE, "Expected where value to be a str, int, float, or operator expression, got None"),
    ({"i": {}}, VE, "Expected operator expression to have exactly one operator, got {}"),
    ({"i": {"$eq": 1, "$ne": 2}}, VE, "Expected operator expression to have exactly one operator, got {'$eq': 1, '$ne': 2}"),
    ({"s": {"$gt": "a"}}, VE, "Expected operand value to be an int or a float for operator $gt, got a"),
    ({"i": {"$lte": None}}, VE, "Expected operand value to be an int or a float for operator $lte, got None"),
    ({"i": {"$in": 1}}, VE, "Expected operand value to be an list for operator $in, got 1"),
    ({"i": {"$nin": "x"}}, VE, "Expected operand value to be an list for operator $nin, got x"),
    ({"i": {"$in": (1, 2)}}, VE, "Expected operand value to be an list for operator $in, got (1, 2)"),
    ({"#document": {"$contains": 1}}, VE, "Expected operand value to be a str for operator $contains on #document, got 1"),
    ({"i": {"$contains": [1]}}, VE, "Expected operand value to be a str, int, float, or bool for operator $contains, got [1]"),
    ({"i": {"$not_contains": None}}, VE, "Expected operand value to be a str, int, float, or bool for operator $not_contains, got None"),
    ({"i": {"$foo": 1}}, VE, f"Expected where operator to be one of {_OPS}, got $foo"),
    ({"i": {"$foo": None}}, VE, f"Expected where operator to be one of {_OPS}, got $foo"),
    ({"#document": {"$regex": "a"}}, VE, f"Expected where operator to be one of {_OPS}, got $regex"),
    ({"i": {"$eq": None}}, VE, "Expected where operand value to be a str, int, float, bool, or list of those type, got None"),
    ({"i": {"$eq": {"a": 1}}}, VE, "Expected where operand value to be a str, int, float, bool, or list of those type, got {'a': 1}"),
    ({"i": {"$in": []}}, VE, "Expected where operand value to be a non-empty list, and all values to be of the same type got []"),
    ({"i": {"$in": [1, "a"]}}, VE, "Expected where operand value to be a non-empty list, and all values to be of the same type got [1, 'a']"),
    ({"i": {"$in": [1.5, 2]}}, VE, "Expected where operand value to be a non-empty list, and all values to be of the same type got [1.5, 2]"),
    ({"i": {"$in": [True, 1]}}, VE, "Expected where operand value to be a non-empty list, and all values to be of the same type got [True, 1]"),
    ({"i": {"$eq": []}}, VE, "Expected where operand value to be a non-empty list, and all values to be of the same type got []"),
    ({"i": {"$in": [object]}}, TE, "Object of type type is not JSON serializable"),
    ({"i": {"$in": [b"x"]}}, TE, "Object of type bytes is not JSON serializable"),
    # rejected by Chroma's Rust core
    ({"k": {"$eq": [1, 2]}}, IA, "Invalid where clause"),
    ({"k": {"$ne": [1]}}, IA, "Invalid where clause"),
    ({"k": {"$in": [1, True]}}, IA, "Invalid where clause"),
    ({"k": {"$in": [None]}}, IA, "Invalid where clause"),
    ({"k": {"$in": [[1]]}}, IA, "Invalid where clause"),
    ({"k": {"$in": [{"a": 1}]}}, IA, "Invalid where clause"),
    ({"k": {"$in": [1, 2**64]}}, IA, "Invalid where clause"),
    ({"k": {"$in": [2**63, 2**64]}}, IA, "Invalid where clause"),
    ({"k": {"$in": [1.5, float("nan")]}}, IA, "Invalid where clause"),
    ({"k": {"$gt": True}}, IA, "Invalid where clause"),
    ({"k": {"$gt": 2**63}}, IA, "Invalid where clause"),
    ({"k": 2**63}, IA, "Invalid where clause"),
    ({"k": 10**400}, IA, "Invalid where clause"),
    ({"k": float("nan")}, IA, "Invalid where clause"),
    ({"k": {"$lt": float("inf")}}, IA, "Invalid where clause"),
    ({"k": {"$contains": 2**63}}, IA, "Invalid where clause"),
    ({"$foo": 1}, IA, "Invalid where clause"),
    ({"$": 1}, IA, "Invalid where clause"),
    ({"$in": [1]}, IA, "Invalid where clause"),
    ({"$nin": None}, IA, "Invalid where clause"),
    ({"$foo": {"$eq": 1}}, IA, "Invalid where clause"),
    ({"$and": [{"i": 1}, {"$foo": 1}]}, IA, "Invalid where clause"),
    ({"$and": [{"#document": "x"}, {"$foo": 1}]}, IA, "Invalid where clause"),
    ({"#document": "x"}, IA, "Cannot filter using metadata key '#document' with type 'Str' because indexing is disabled"),
    ({"#document": {"$eq": "x"}}, IA, "Cannot filter using metadata key '#document' with type 'Str' because indexing is disabled"),
    ({"#document": {"$ne": "x"}}, IA, "Cannot filter using metadata key '#document' with type 'Str' because indexing is disabled"),
    ({"#document": {"$in": ["x"]}}, IA, "Cannot filter using metadata key '#document' with type 'Str' because indexing is disabled"),
    ({"#document": {"$nin": ["x"]}}, IA, "Cannot filter using metadata key '#document' with type 'Str' because indexing is disabled"),
    ({"$or": [{"i": 1}, {"#document": "x"}]}, IA, "Cannot filter using metadata key '#document' with type 'Str' because indexing is disabled"),
]

BAD_WHERE_DOCUMENT = [
    ({}, VE, "Expected where document to have exactly one operator, got {}"),
    ("x", VE, "Expected where document to be a dictionary, got x"),
    ({"$contains": "a", "$regex": "b"}, VE, "Expected where document to have exactly one operator, got {'$contains': 'a', '$regex': 'b'}"),
    ({"$foo": "x"}, VE, f"Expected where document operator to be one of {_DOC_OPS}, got $foo"),
    ({1: "x"}, VE, f"Expected where document operator to be one of {_DOC_OPS}, got 1"),
    ({"$and": "x"}, VE, "Expected document value for $and or $or to be a list of where document expressions, got x"),
    ({"$or": []}, VE, "Expected document value for $and or $or to be a list with at least two where document expressions, got []"),
    ({"$and": [{"$contains": "a"}]}, VE, "Expected document value for $and or $or to be a list with at least two where document expressions, got [{'$contains': 'a'}]"),
    ({"$and": [{"$contains": "a"}, {"$foo": "b"}]}, VE, f"Expected where document operator to be one of {_DOC_OPS}, got $foo"),
    ({"$and": [{"$contains": "a"}, {}]}, VE, "Expected where document to have exactly one operator, got {}"),
    ({"$and": [{"$contains": "a"}, "x"]}, VE, "Expected where document to be a dictionary, got x"),
    ({"$contains": 1}, VE, "Expected where document operand value for operator $contains to be a str, got 1"),
    ({"$regex": None}, VE, "Expected where document operand value for operator $regex to be a str, got None"),
    ({"$contains": ""}, VE, "Expected where document operand value for operator $contains to be a non-empty str"),
    ({"$not_regex": ""}, VE, "Expected where document operand value for operator $not_regex to be a non-empty str"),
    # regex syntax, rejected by Chroma's Rust core
    ({"$regex": "("}, IA, _regex("(", "^", "unclosed group")),
    ({"$not_regex": "ab("}, IA, _regex("ab(", "  ^", "unclosed group")),
    ({"$regex": "(a(b"}, IA, _regex("(a(b", "  ^", "unclosed group")),
    ({"$regex": "((a)"}, IA, _regex("((a)", "^", "unclosed group")),
    ({"$regex": "é("}, IA, _regex("é(", " ^", "unclosed group")),
    ({"$regex": "a))"}, IA, _regex("a))", " ^", "unopened group")),
    ({"$regex": "[a"}, IA, _regex("[a", "^", "unclosed character class")),
    ({"$regex": "*"}, IA, _regex("*", "^", "repetition operator missing expression")),
    ({"$regex": "a|*"}, IA, _regex("a|*", "  ^", "repetition operator missing expression")),
    ({"$regex": "+a"}, IA, _regex("+a", "^", "repetition operator missing expression")),
    ({"$regex": "\\"}, IA, _regex("\\", "^", "incomplete escape sequence, reached end of pattern prematurely")),
    ({"$regex": "a\\"}, IA, _regex("a\\", " ^", "incomplete escape sequence, reached end of pattern prematurely")),
    ({"$regex": "x{2,1}"}, IA, _regex("x{2,1}", " ^^^^^", "invalid repetition count range, the start must be <= the end")),
    ({"$regex": "(?=a)"}, IA, _regex("(?=a)", "^^^", "look-around, including look-ahead and look-behind, is not supported")),
    ({"$regex": "(?!a)"}, IA, _regex("(?!a)", "^^^", "look-around, including look-ahead and look-behind, is not supported")),
    ({"$regex": "(?<=a)b"}, IA, _regex("(?<=a)b", "^^^^", "look-around, including look-ahead and look-behind, is not supported")),
    ({"$regex": "(a)\\1"}, IA, _regex("(a)\\1", "   ^^", "backreferences are not supported")),
    ({"$regex": "\\8"}, IA, _regex("\\8", "^^", "backreferences are not supported")),
    ({"$regex": "\\Z"}, IA, _regex("\\Z", "^^", "unrecognized escape sequence")),
    ({"$regex": "[z-a]"}, IA, _regex("[z-a]", " ^^^", "invalid character class range, the start must be <= the end")),
    ({"$regex": "\\pX"}, IA, _regex("\\pX", "^^^", "Unicode property not found")),
    ({"$regex": "(?z)a"}, IA, _regex("(?z)a", "  ^", "unrecognized flag")),
    ({"$and": [{"$contains": "("}, {"$regex": "("}]}, IA, _regex("(", "^", "unclosed group")),
    ({"$regex": "[]"}, IA, _regex("[]", "^^", "unclosed character class")),
    ({"$regex": "[^]"}, IA, _regex("[^]", "^^^", "unclosed character class")),
    ({"$regex": "(?i)("}, IA, _regex("(?i)(", "    ^", "unclosed group")),
    # RE2 reads a stray "{" as a literal; Rust does not
    ({"$regex": "a{"}, IA, _regex("a{", " ^", "unclosed counted repetition")),
    ({"$regex": "a{1,2"}, IA, _regex("a{1,2", " ^^^^", "unclosed counted repetition")),
    ({"$regex": "a{1x}"}, IA, _regex("a{1x}", " ^^", "unclosed counted repetition")),
    ({"$regex": "a{x}"}, IA, _regex("a{x}", "  ^", "repetition quantifier expects a valid decimal")),
    ({"$regex": "x{}"}, IA, _regex("x{}", "  ^", "repetition quantifier expects a valid decimal")),
    ({"$regex": "a{1,x}"}, IA, _regex("a{1,x}", "    ^", "repetition quantifier expects a valid decimal")),
    ({"$regex": "{1}"}, IA, _regex("{1}", "^", "repetition operator missing expression")),
    # multi-line patterns get regex-syntax's numbered layout
    ({"$regex": "a\n("}, IA, "Regex syntax errror: regex parse error:\n" + "~" * 79 + "\n1: a\n2: (\n   ^\n" + "~" * 79 + "\nerror: unclosed group"),
    ({"$regex": "ab\ncd)"}, IA, "Regex syntax errror: regex parse error:\n" + "~" * 79 + "\n1: ab\n2: cd)\n     ^\n" + "~" * 79 + "\nerror: unopened group"),
    ({"$regex": "[a\n"}, IA, "Regex syntax errror: regex parse error:\n" + "~" * 79 + "\n1: [a\n   ^\n" + "~" * 79 + "\nerror: unclosed character class"),
]

# (where, where_document, class, message): which error wins when both are bad
BAD_PAIRS = [
    ({"$foo": 1}, {"$bad": "x"}, VE, f"Expected where document operator to be one of {_DOC_OPS}, got $bad"),
    ({"i": None}, {"$bad": "x"}, VE, "Expected where value to be a str, int, float, or operator expression, got None"),
    ({"$foo": 1}, {"$regex": "("}, IA, "Invalid where clause"),
    ({"#document": "x"}, {"$regex": "("}, IA, _regex("(", "^", "unclosed group")),
    ({"i": {"$in": [object]}}, {"$regex": "("}, TE, "Object of type type is not JSON serializable"),
    ({"i": 1}, {}, VE, "Expected where document to have exactly one operator, got {}"),
    ({}, {"$contains": "x"}, VE, "Expected where to have exactly one operator, got {}"),
]

ALL_BAD = (
    [(w, None, cls, msg) for w, cls, msg in BAD_WHERE]
    + [(None, d, cls, msg) for d, cls, msg in BAD_WHERE_DOCUMENT]
    + BAD_PAIRS
)


# Records and filters with the ids Chroma 1.5.9 returns (its less obvious semantics).
FIXED = [
    {"id": "int1", "document": "hello World", "metadata": {"i": 1, "s": "x", "b": True, "l": [1, 2]}},
    {"id": "float1", "document": "Apple pie", "metadata": {"i": 1.0, "s": "y", "b": False, "l": ["x", "y"]}},
    {"id": "float2", "document": None, "metadata": {"i": 2.5, "l": [1.0, 2.5]}},
    {"id": "nometa", "document": "xyz", "metadata": None},
    {"id": "true", "document": "", "metadata": {"i": True, "s": "1", "l": [True]}},
    {"id": "max", "document": "a\nb", "metadata": {"i": 2**63 - 1, "s": "a"}},
    {"id": "minus1", "document": "abc", "metadata": {"i": -1}},
    {"id": "min", "document": "%_", "metadata": {"i": -(2**63)}},
]

FACTS = [
    ({"i": 1}, None, {"int1", "float1"}),
    ({"i": 1.0}, None, {"int1", "float1"}),
    ({"i": True}, None, {"true"}),
    ({"i": 1.5}, None, {"int1"}),  # a Float operand meets ints as `f as i64` (truncated)
    ({"i": -1.5}, None, {"minus1"}),
    ({"i": {"$gt": -1.5}}, None, {"int1", "float1", "float2", "max"}),  # -1 > (-1.5 as i64) is false
    ({"i": {"$lt": 1e300}}, None, {"int1", "float1", "float2", "minus1", "min"}),  # saturates to i64::MAX
    ({"i": 2**64}, None, {"max"}),
    ({"i": {"$gte": 1}}, None, {"int1", "float1", "float2", "max"}),
    ({"i": {"$ne": 1}}, None, {"float2", "nometa", "true", "max", "minus1", "min"}),
    ({"i": {"$in": [1.0, 2.5]}}, None, {"int1", "float1", "float2"}),
    ({"i": {"$nin": [1]}}, None, {"float2", "nometa", "true", "max", "minus1", "min"}),
    ({"s": 1}, None, set()),
    ({"s": {"$contains": "x"}}, None, set()),  # $contains on a metadata key: list membership only
    ({"l": {"$contains": "x"}}, None, {"float1"}),
    ({"l": {"$contains": 1}}, None, {"int1"}),  # same type only: not the float list [1.0, 2.5]
    ({"l": {"$contains": 1.0}}, None, {"float2"}),
    ({"l": {"$contains": True}}, None, {"true"}),
    ({"l": {"$not_contains": 1}}, None, {"float1", "float2", "nometa", "true", "max", "minus1", "min"}),
    ({"l": 1}, None, set()),  # $eq never matches a list value
    ({"b": {"$ne": True}}, None, {"float1", "float2", "nometa", "true", "max", "minus1", "min"}),
    ({"#document": {"$contains": ""}}, None, {"int1", "float1", "nometa", "true", "max", "minus1", "min"}),
    ({"#document": {"$not_contains": "hello"}}, None, {"float1", "float2", "nometa", "true", "max", "minus1", "min"}),
    (None, {"$contains": "apple"}, set()),  # case-sensitive
    (None, {"$contains": "%"}, {"min"}),  # no LIKE wildcards
    (None, {"$contains": "_"}, {"min"}),
    (None, {"$regex": "(?i)apple"}, {"float1"}),
    (None, {"$regex": "a.b"}, set()),  # "." does not match "\n"
    (None, {"$regex": "(?s)a.b"}, {"max"}),
    (None, {"$regex": "^b"}, set()),
    (None, {"$regex": "(?m)^b"}, {"max"}),
    (None, {"$regex": "a$"}, set()),
    (None, {"$regex": "b$"}, {"max"}),
    (None, {"$not_regex": "e"}, {"float2", "nometa", "true", "max", "minus1", "min"}),
    ({"$or": [{"i": 1}, {"s": "a"}]}, {"$not_contains": "pie"}, {"int1", "max"}),
]
