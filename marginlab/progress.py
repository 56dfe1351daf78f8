"""Progress bars: the one place where marginlab chooses its tqdm.

``tqdm.auto`` imported inside a Jupyter kernel without ``ipywidgets`` emits a ``TqdmWarning``
("IProgress not found") that lands, with a file path, in every rendered report; its text bars
also leave fragments in the captured output. :func:`tqdm` therefore picks the widget bar only when
``ipywidgets`` is importable inside a kernel, and the text bar (on stderr) otherwise, and it is
switched off entirely when ``$MARGINLAB_PROGRESS`` is ``0``/``off``/``false``/``no`` (the report
runner sets this for the notebooks' kernels).

Examples
--------
>>> from marginlab.progress import tqdm
>>> sum(tqdm(range(3), disable=True))
3
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from typing import Any

__all__ = ["tqdm", "progress_enabled", "PROGRESS_VARIABLE"]

#: Environment variable that switches every marginlab progress bar off (``0``, ``off``, ``false``, ``no``).
PROGRESS_VARIABLE = "MARGINLAB_PROGRESS"


def progress_enabled() -> bool:
    """False when ``$MARGINLAB_PROGRESS`` switches progress bars off."""
    return os.environ.get(PROGRESS_VARIABLE, "1").strip().lower() not in ("0", "off", "false", "no")


@functools.lru_cache(maxsize=1)
def _bar_class() -> type:
    ipython = sys.modules.get("IPython")
    in_kernel = False
    if ipython is not None:
        shell = ipython.get_ipython() if hasattr(ipython, "get_ipython") else None
        in_kernel = shell is not None and "IPKernelApp" in getattr(shell, "config", {})
    if in_kernel and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm as notebook_tqdm

        return notebook_tqdm
    from tqdm.std import tqdm as text_tqdm

    return text_tqdm


def tqdm(iterable: Any = None, *args: Any, **kwargs: Any) -> Any:
    """A progress bar over ``iterable`` (same arguments as :class:`tqdm.std.tqdm`).

    The bar is disabled when ``disable=True`` is passed or progress is switched off by
    ``$MARGINLAB_PROGRESS``.
    """
    kwargs["disable"] = bool(kwargs.get("disable", False)) or not progress_enabled()
    return _bar_class()(iterable, *args, **kwargs)
