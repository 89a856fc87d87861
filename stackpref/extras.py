"""The heavy parts behind extras fail with the pip command that fixes them, not a traceback."""

from importlib.util import find_spec

from stackpref.errors import MissingDependencyError


def require(extra: str, *modules: str) -> None:
    """Raise MissingDependencyError naming the first of `modules` that is not installed."""
    for module in modules:
        if find_spec(module) is None:
            raise MissingDependencyError(f"this needs {module}, part of the {extra} extra: "
                                         f"pip install 'stackpref[{extra}]'")
