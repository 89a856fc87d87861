"""stackpref: Stack Exchange question/answer data to clean pairwise preference data.

The data API (`build`, `BuildConfig`) imports no torch; `stackpref.training` and `stackpref.eval`
hold the heavy parts behind the `train` and `eval` extras.
"""

from ._version import __version__
from .config import BuildConfig
from .errors import StackprefError

__all__ = ["BuildConfig", "StackprefError", "__version__", "build"]


def build(config: BuildConfig, *, overwrite: bool = False, progress: bool = False):
    """Build a dataset; see `stackpref.pipeline.build`."""
    from .pipeline import build as _build

    return _build(config, overwrite=overwrite, progress=progress)
