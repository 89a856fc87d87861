"""stackpref: Stack Exchange question/answer data to clean pairwise preference data.

The data API (`build`, `load`, `BuildConfig`) imports no torch; `stackpref.training` and `stackpref.eval`
hold the heavy parts behind the `train` and `eval` extras.
"""

from typing import TYPE_CHECKING

from stackpref._version import __version__
from stackpref.config import BuildConfig
from stackpref.errors import StackprefError

if TYPE_CHECKING:
    from datasets import DatasetDict

__all__ = ["BuildConfig", "StackprefError", "__version__", "build", "load"]


def build(config: BuildConfig, *, overwrite: bool = False, progress: bool = False):
    """Build a dataset; see `stackpref.pipeline.build.build`."""
    from stackpref.pipeline.build import build as _build

    return _build(config, overwrite=overwrite, progress=progress)


def load(path_or_repo, config: str = "pairs") -> "DatasetDict":
    """A build folder or Hub dataset repo as a `datasets.DatasetDict`; see `stackpref.output.loading.load`."""
    from stackpref.output.loading import load as _load

    return _load(path_or_repo, config)
