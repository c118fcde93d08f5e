import types

import agentkit


def test_all_is_sorted():
    """`__all__` is kept in plain sorted order so additions are easy to review."""
    assert agentkit.__all__ == sorted(agentkit.__all__)


def test_all_lists_every_public_name():
    """Every public name in the package namespace is in `__all__`, and nothing else is."""
    public = {
        name
        for name, value in vars(agentkit).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public | {"__version__"} == set(agentkit.__all__)


def test_every_exported_name_resolves():
    """Nothing in `__all__` is a dangling name."""
    for name in agentkit.__all__:
        assert getattr(agentkit, name) is not None


def test_exported_names_are_defined_in_private_modules():
    """Public classes and functions live in `_module.py` files and are re-exported here."""
    for name in agentkit.__all__:
        module = getattr(getattr(agentkit, name), "__module__", None)
        if module is not None and module.startswith("agentkit"):
            assert module.split(".")[-1].startswith("_"), (name, module)


def test_version_is_a_pep440_string():
    """`agentkit.__version__` is what the wheel is built with."""
    major, minor, patch = agentkit.__version__.split(".")
    assert all(part.isdigit() for part in (major, minor, patch))
