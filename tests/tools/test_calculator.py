"""`calculate`: arithmetic parsed with `ast`, bounded at every step, never `eval`."""

import contextlib
import itertools
import math

import pytest
from agentkit_tools.calculator import MAX_LENGTH, calculate, evaluate

from agentkit import ToolRetry


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3", "7"),
        ("(1 + 2) * 3", "9"),
        ("7 / 2", "3.5"),
        ("7 // 2", "3"),
        ("-7 // 2", "-4"),
        ("7 % 3", "1"),
        ("2 ** 10", "1024"),
        ("-2 ** 2", "-4"),
        ("+-3", "-3"),
        ("2 ** -1", "0.5"),
        ("0.1 + 0.2", "0.3"),
        ("2 / 3", "0.666666666666667"),
        ("1e3 + 1", "1001"),
        ("1_000 * 3", "3000"),
        ("sqrt(16)", "4"),
        ("sqrt(2)", "1.4142135623731"),
        ("sin(pi / 2)", "1"),
        ("cos(0)", "1"),
        ("tan(0)", "0"),
        ("log(e)", "1"),
        ("log(8, 2)", "3"),
        ("log10(1000)", "3"),
        ("exp(0)", "1"),
        ("abs(-3.5)", "3.5"),
        ("round(2.567, 2)", "2.57"),
        ("round(2.5)", "2"),
        ("floor(-2.5)", "-3"),
        ("ceil(2.1)", "3"),
        ("factorial(5)", "120"),
        ("factorial(5.0)", "120"),
        ("2 * pi", "6.28318530717959"),
        ("10 ** 20", "100000000000000000000"),
        (" \n 1 +\t1 ", "2"),
    ],
)
def test_arithmetic(expression, expected):
    assert calculate(expression) == expected


def test_exact_values_before_formatting():
    """`evaluate` gives the number itself: ints stay exact."""
    assert evaluate("2 ** 100") == 2**100
    assert evaluate("factorial(20)") == math.factorial(20)
    assert evaluate("1 / 3") == 1 / 3


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "The expression is empty"),
        ("1 +", "The expression is not valid: invalid syntax"),
        ("2 ^ 10", r"\^ is not supported: write powers with \*\*, e.g. 2 \*\* 10"),
        ("1 / 0", "Division by zero in '1 / 0'"),
        ("5 // 0", "Division by zero"),
        ("5 % 0", "Division by zero"),
        ("0 ** -1", "Division by zero"),
        ("log(8, 1)", "Division by zero"),
        ("sqrt(-1)", r"sqrt\(-1\) is undefined \(math domain error\): sqrt\(x\)"),
        ("log(0)", "is undefined"),
        ("(-8) ** (1 / 3)", "not a real number"),
        ("x + 1", "Unknown name 'x'"),
        ("sqrt(1, 2)", r"sqrt\(\) takes one argument: sqrt\(x\)"),
        ("round()", r"round\(\) takes one argument or two arguments"),
        ("sqrt(x=4)", "Call sqrt with plain arguments"),
        ("sqrt(*[4])", "Call sqrt with plain arguments"),
        ("round(2.5, 0.5)", "second argument must be a whole number"),
        ("'a' * 3", "'a' is not a number"),
        ("True + 1", "True is not a number"),
        ("1j * 1j", "1j is not a number"),
        ("1 < 2", "'1 < 2' is not allowed"),
        ("1 if 2 else 3", "is not allowed"),
        ("[1, 2]", "is not allowed"),
        ("1 << 100", "The operator in '1 << 100' is not allowed"),
        ("~1", "is not allowed"),
        ("not 1", "is not allowed"),
        ("lambda: 1", "is not allowed"),
        ("(x := 1)", "is not allowed"),
    ],
)
def test_mistakes_ask_for_a_retry(expression, message):
    with pytest.raises(ToolRetry, match=message):
        calculate(expression)


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('echo hacked')",
        "().__class__.__bases__[0].__subclasses__()",
        "open('/etc/passwd').read()",
        "eval('1')",
        "exec('x = 1')",
        "sqrt.__globals__",
        "(1).__class__",
        "getattr(1, 'real')",
        "pi.real",
        "[x for x in range(10 ** 9)]",
        "f'{1}'",
    ],
)
def test_nothing_but_arithmetic_runs(expression):
    """Attribute access, builtins, comprehensions and strings are all refused."""
    with pytest.raises(ToolRetry):
        calculate(expression)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("1 + " * 200 + "1", "too long"),
        ("2 ** 100000", r"exponent 100000 is too large \(at most 10000\)"),
        ("2.0 ** 20000.0", "exponent 20000 is too large"),
        ("9 ** 2000", "9 \\*\\* 2000 would have more than 1000 digits"),
        ("2 ** 2 ** 2 ** 2 ** 2", "exponent 65536 is too large"),
        ("10 ** 999 * 100", "more than 1000 digits"),
        ("10 ** 600 * 10 ** 600", "more than 1000 digits"),
        ("factorial(171)", "factorial\\(\\) takes a whole number from 0 to 170, not 171"),
        ("factorial(-1)", "whole number from 0 to 170"),
        ("factorial(2.5)", "whole number"),
        ("factorial(factorial(10))", "not 3628800"),
        ("exp(1000)", "The result of 'exp\\(1000\\)' is too large"),
        ("1e308 * 10", "too large"),
        ("2.0 ** 5000", "too large"),
        ("sqrt(10 ** 400)", "too large"),
        ("(" * 201 + "1" + ")" * 201, "not valid: too many nested parentheses"),
        ("-" * 499 + "1", None),
    ],
)
def test_limits(expression, message):
    """Length, exponent, result size and factorial are bounded, with texts that say so."""
    if message is None:
        assert calculate(expression) == "-1"  # 499 minus signs: allowed and cheap
        return
    with pytest.raises(ToolRetry, match=message):
        calculate(expression)


def test_length_limit_is_documented_in_the_error():
    with pytest.raises(ToolRetry, match=f"at most {MAX_LENGTH}"):
        calculate("1" * (MAX_LENGTH + 1))


def test_the_calculator_never_calls_eval(monkeypatch):
    """A valid expression is evaluated without `eval` or `exec` (`ast.parse` only parses)."""
    import builtins

    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec must not be used")

    with monkeypatch.context() as patch:
        for name in ("eval", "exec"):
            patch.setattr(builtins, name, forbidden)
        result = calculate("sqrt(16) + 2 ** 3")
    assert result == "12"


# --------------------------------------------------------------------------- the GIL


@pytest.mark.parametrize(
    "expression",
    ["round(1, -10**8)", "round(1, -100000000)", "round(7, -1e300)", "round(10**900, -1001)",
     "round(2.5, 10**9)"],
)  # fmt: skip
def test_round_with_huge_digits_is_refused_at_once(expression):
    """Rounding an integer to -n digits computes 10 ** n in one C call that holds the GIL;
    such calls are refused before they run."""
    import time

    started = time.process_time()
    with pytest.raises(ToolRetry, match=r"round\(\)'s second argument must be from -1000 to 1000"):
        evaluate(expression)
    assert time.process_time() - started < 0.5


def test_round_within_the_bounds():
    assert evaluate("round(123456, -3)") == 123000
    assert evaluate("round(10**999, -1000)") == 0
    assert evaluate("round(2.5, 1000)") == 2.5


def test_no_step_holds_the_gil_for_long():
    """While the worst allowed expressions are evaluated, another thread keeps running."""
    import threading
    import time

    worst = [
        "round(10**999, -1000)",
        "9**1000 * 9**1000 // 7**1000 % 3**1000",
        "factorial(170) ** 2",
        "(10**999) ** -1",
        "2.0 ** 10000",
    ]
    ticks, stop, started = [], threading.Event(), threading.Event()

    def ticker():
        started.set()
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.001)

    thread = threading.Thread(target=ticker)
    thread.start()
    started.wait()
    try:
        for expression in worst * 20:
            with contextlib.suppress(ToolRetry):
                evaluate(expression)
    finally:
        stop.set()
        thread.join()
    ticks.append(time.monotonic())
    gaps = [later - earlier for earlier, later in itertools.pairwise(ticks)]
    assert max(gaps) < 1.0  # generous: a held GIL shows as a gap of many seconds


def test_the_whole_evaluation_has_a_time_budget(monkeypatch):
    from agentkit_tools import calculator

    monkeypatch.setattr(calculator, "MAX_SECONDS", -1.0)
    with pytest.raises(ToolRetry, match="takes too long to evaluate"):
        evaluate("1 + 1")
