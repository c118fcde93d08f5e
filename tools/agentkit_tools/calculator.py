"""`calculate`: arithmetic for the model, parsed with `ast` and evaluated node by node.

Nothing is ever passed to `eval`: only numbers, the operators `+ - * / // % **`, parentheses,
the functions in `FUNCTIONS` and the constants `pi`, `e` and `tau` are understood.

Every step is bounded, because one step of integer arithmetic runs in C while holding the
GIL, freezing every other thread of the agent until it ends: the expression's length, every
number's size (`MAX_DIGITS`), the exponent of `**`, the argument of `factorial` and the digits
of `round` are capped, so that no step can take more than a few milliseconds, and the whole
evaluation stops after `MAX_SECONDS` (checked between steps).
"""

from __future__ import annotations

import ast
import math
import operator
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentkit import ToolRetry, tool

__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "MAX_DIGITS",
    "MAX_EXPONENT",
    "MAX_FACTORIAL",
    "MAX_LENGTH",
    "MAX_ROUND_DIGITS",
    "MAX_SECONDS",
    "calculate",
    "evaluate",
]

MAX_LENGTH = 500
"""Longest expression accepted, in characters."""

MAX_EXPONENT = 10_000
"""Largest exponent (in absolute value) `**` takes."""

MAX_DIGITS = 1_000
"""Most decimal digits a whole-number result (or any step on the way) may have."""

MAX_FACTORIAL = 170
"""Largest argument of `factorial` (170! is the largest that still fits in a float)."""

MAX_ROUND_DIGITS = MAX_DIGITS
"""Largest number of digits (in absolute value) `round`'s second argument takes: rounding
an integer to -n digits computes 10 ** n."""

MAX_SECONDS = 1.0
"""Longest one evaluation may run, checked between steps."""

_MAX_BITS = int(MAX_DIGITS * math.log2(10))

Number = int | float


@dataclass(frozen=True)
class _Function:
    call: Callable[..., Any]
    arity: tuple[int, int]
    usage: str


def _factorial(n: Number) -> int:
    if isinstance(n, float) and n.is_integer():
        n = int(n)
    if not isinstance(n, int) or not 0 <= n <= MAX_FACTORIAL:
        raise ToolRetry(f"factorial() takes a whole number from 0 to {MAX_FACTORIAL}, not {n}.")
    return math.factorial(n)


def _round(x: Number, ndigits: Number | None = None) -> Number:
    if ndigits is None:
        return round(x)
    if isinstance(ndigits, float) and ndigits.is_integer():
        ndigits = int(ndigits)
    if not isinstance(ndigits, int):
        raise ToolRetry(f"round()'s second argument must be a whole number, not {ndigits}.")
    if abs(ndigits) > MAX_ROUND_DIGITS:
        raise ToolRetry(
            f"round()'s second argument must be from -{MAX_ROUND_DIGITS} to "
            f"{MAX_ROUND_DIGITS}, not {ndigits:.3g}."
        )
    return round(x, ndigits)


FUNCTIONS: dict[str, _Function] = {
    "sqrt": _Function(math.sqrt, (1, 1), "sqrt(x)"),
    "sin": _Function(math.sin, (1, 1), "sin(x), x in radians"),
    "cos": _Function(math.cos, (1, 1), "cos(x), x in radians"),
    "tan": _Function(math.tan, (1, 1), "tan(x), x in radians"),
    "log": _Function(math.log, (1, 2), "log(x) for the natural logarithm, log(x, base)"),
    "log10": _Function(math.log10, (1, 1), "log10(x)"),
    "exp": _Function(math.exp, (1, 1), "exp(x)"),
    "abs": _Function(abs, (1, 1), "abs(x)"),
    "round": _Function(_round, (1, 2), "round(x) or round(x, digits)"),
    "floor": _Function(math.floor, (1, 1), "floor(x)"),
    "ceil": _Function(math.ceil, (1, 1), "ceil(x)"),
    "factorial": _Function(_factorial, (1, 1), f"factorial(n), n from 0 to {MAX_FACTORIAL}"),
}
"""The functions an expression may call, with how many arguments each takes."""

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}
"""The names an expression may use."""

_BINARY: dict[type[ast.operator], tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Add: ("+", operator.add),
    ast.Sub: ("-", operator.sub),
    ast.Mult: ("*", operator.mul),
    ast.Div: ("/", operator.truediv),
    ast.FloorDiv: ("//", operator.floordiv),
    ast.Mod: ("%", operator.mod),
    ast.Pow: ("**", operator.pow),
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_WHAT_IS_ALLOWED = (
    "Use numbers, + - * / // % ** and parentheses, the constants pi, e and tau, and the functions "
    + ", ".join(FUNCTIONS)
    + "."
)


@tool
def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression exactly as a calculator would, and return the result.

    Supports numbers, + - * / // % ** (power), parentheses, the constants pi, e and tau, and the
    functions sqrt, sin, cos, tan (radians), log (natural, or log(x, base)), log10, exp, abs,
    round, floor, ceil and factorial. Example: "sqrt(2) * (3 + 4) ** 2".

    Args:
        expression: The expression to evaluate, in Python syntax, e.g. "2 * (3 + 4) / 7".
    """
    return _format(evaluate(expression))


def evaluate(expression: str) -> Number:
    """The value of an arithmetic expression (the work behind `calculate`).

    Raises:
        ToolRetry: The expression is not understood, not allowed, or too large; the text says
            why, for the model.

    Examples:
        >>> evaluate("2 ** 10 + factorial(5)"), evaluate("round(pi, 2)")
        (1144, 3.14)
        >>> evaluate("__import__('os')")
        Traceback (most recent call last):
        ...
        agentkit._exceptions.ToolRetry: Unknown function '__import__'. Use numbers, ...
    """
    text = expression.strip()
    if not text:
        raise ToolRetry("The expression is empty. " + _WHAT_IS_ALLOWED)
    if len(text) > MAX_LENGTH:
        raise ToolRetry(
            f"The expression is too long ({len(text)} characters, at most {MAX_LENGTH}); "
            "split the calculation into steps."
        )
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        reason = getattr(exc, "msg", None) or "it cannot be parsed"
        raise ToolRetry(f"The expression is not valid: {reason}. {_WHAT_IS_ALLOWED}") from None
    try:
        return _eval(tree.body, time.monotonic() + MAX_SECONDS)
    except RecursionError:
        raise ToolRetry("The expression is nested too deeply; split it into steps.") from None


def _eval(node: ast.expr, deadline: float) -> Number:
    """The value of `node`, once the evaluation's deadline is checked."""
    if time.monotonic() > deadline:
        raise ToolRetry(
            f"The expression takes too long to evaluate (more than {MAX_SECONDS:g} s); "
            "split it into steps."
        )
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ToolRetry(f"{value!r} is not a number. {_WHAT_IS_ALLOWED}")
        return _checked(value)
    if isinstance(node, ast.Name):
        if node.id not in CONSTANTS:
            raise ToolRetry(f"Unknown name {node.id!r}. {_WHAT_IS_ALLOWED}")
        return CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _checked(_UNARY[type(node.op)](_eval(node.operand, deadline)))
    if isinstance(node, ast.BinOp):
        return _binary(node, deadline)
    if isinstance(node, ast.Call):
        return _call(node, deadline)
    raise ToolRetry(f"{_source(node)!r} is not allowed. {_WHAT_IS_ALLOWED}")


def _binary(node: ast.BinOp, deadline: float) -> Number:
    if isinstance(node.op, ast.BitXor):
        raise ToolRetry("^ is not supported: write powers with **, e.g. 2 ** 10.")
    if type(node.op) not in _BINARY:
        raise ToolRetry(f"The operator in {_source(node)!r} is not allowed. {_WHAT_IS_ALLOWED}")
    symbol, function = _BINARY[type(node.op)]
    left, right = _eval(node.left, deadline), _eval(node.right, deadline)
    if symbol == "**":
        _check_power(left, right)
    try:
        return _checked(function(left, right))
    except ZeroDivisionError:
        raise ToolRetry(f"Division by zero in {_source(node)!r}.") from None
    except OverflowError:
        raise ToolRetry(f"The result of {_source(node)!r} is too large.") from None


def _check_power(base: Number, exponent: Number) -> None:
    if abs(exponent) > MAX_EXPONENT:
        raise ToolRetry(f"The exponent {exponent:g} is too large (at most {MAX_EXPONENT}).")
    exact = isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1
    if exact and exponent > 0 and exponent * math.log2(abs(base)) > _MAX_BITS:
        raise ToolRetry(
            f"{base} ** {exponent} would have more than {MAX_DIGITS} digits; "
            "use a float base (e.g. 2.0 ** 5000) for an approximate value."
        )


def _call(node: ast.Call, deadline: float) -> Number:
    name = node.func.id if isinstance(node.func, ast.Name) else _source(node.func)
    function = FUNCTIONS.get(name)
    if function is None:
        raise ToolRetry(f"Unknown function {name!r}. {_WHAT_IS_ALLOWED}")
    low, high = function.arity
    if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
        raise ToolRetry(f"Call {name} with plain arguments: {function.usage}.")
    if not low <= len(node.args) <= high:
        raise ToolRetry(f"{name}() takes {_count(low, high)}: {function.usage}.")
    args = [_eval(arg, deadline) for arg in node.args]
    try:
        return _checked(function.call(*args))
    except ValueError:
        raise ToolRetry(
            f"{_source(node)} is undefined (math domain error): {function.usage}."
        ) from None
    except ZeroDivisionError:
        raise ToolRetry(f"Division by zero in {_source(node)!r}.") from None
    except OverflowError:
        raise ToolRetry(f"The result of {_source(node)!r} is too large.") from None


def _checked(value: Any) -> Number:
    """`value` if it is a real number within the limits, else `ToolRetry`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ToolRetry("The result is not a real number (e.g. a root of a negative number).")
    if isinstance(value, float) and not math.isfinite(value):
        raise ToolRetry("The result is too large (or undefined) to be a number.")
    if isinstance(value, int) and value.bit_length() > _MAX_BITS:
        raise ToolRetry(f"The result has more than {MAX_DIGITS} digits.")
    return value


def _count(low: int, high: int) -> str:
    words = {1: "one argument", 2: "two arguments"}
    return words[low] if low == high else f"{words[low]} or {words[high]}"


def _source(node: ast.AST) -> str:
    return ast.unparse(node)


def _format(value: Number) -> str:
    """Integers in full; floats to 15 significant digits (as a calculator shows them).

    Examples:
        >>> _format(0.1 + 0.2), _format(2 / 3), _format(1e22), _format(10**20)
        ('0.3', '0.666666666666667', '1e+22', '100000000000000000000')
    """
    if isinstance(value, int):
        return str(value)
    return format(value, ".15g")
