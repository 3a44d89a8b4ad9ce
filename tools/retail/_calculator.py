"""Safe arithmetic for the ``calculate`` tool: numbers, + - * /, unary signs and parentheses.

tau2 filters the characters of the expression and then calls ``eval``; we never evaluate code. The
expression is parsed with ``ast`` and only number literals, the four binary operators and unary +/- are
walked; anything else (names, calls, ``**``, ``//``, ``%``, strings) is refused. The result is
``round(float(value), 2)`` rendered with ``str`` as in tau2 (``"4.0"`` for ``2 + 2``).
Errors are raised as ``ValueError`` with a message fit for the model.
"""
from __future__ import annotations

import ast
import operator

__all__ = ["evaluate"]

_ALLOWED_CHARS = frozenset("0123456789+-*/(). ")
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
# Guards against pathological inputs (deep nesting blows the parser's recursion; huge literals are slow).
_MAX_LENGTH = 1000


def evaluate(expression: str) -> str:
    """Evaluate ``expression`` and return the result rounded to 2 decimals, as a string."""
    if not expression.strip():
        raise ValueError("Empty expression")
    if not set(expression) <= _ALLOWED_CHARS:
        # Same message as tau2, which accepts exactly these characters.
        raise ValueError("Invalid characters in expression")
    if len(expression) > _MAX_LENGTH:
        raise ValueError(f"Expression longer than {_MAX_LENGTH} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, RecursionError, MemoryError):
        raise ValueError(f"Invalid expression: {expression!r}") from None
    try:
        value = float(_eval(tree.body))
    except ZeroDivisionError:
        raise ValueError("division by zero") from None
    except OverflowError:
        raise ValueError("Result too large") from None
    return str(round(value, 2))


def _eval(node: ast.AST) -> int | float:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_eval(node.left), _eval(node.right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    raise ValueError("Only numbers, + - * /, and parentheses are allowed")
