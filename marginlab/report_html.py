"""HTML of an executed notebook that a reader can trust offline: no script, style or font from the network.

nbconvert's ``lab`` template loads require.js and MathJax from a public CDN and mermaid.js on demand; offline,
every formula then shows as raw ``$...$``. :func:`notebook_html` renders with the same template less those three
loads, and maths typeset by the MathJax 2.7 copy shipped by the ``jupyter-server-mathjax`` package (pinned in
``pyproject.toml``), which :func:`install_mathjax` copies next to the reports (``<reports>/mathjax/``, the files
the TeX input and SVG output need: about 3.5 MB). The SVG output draws glyphs from the font data in that copy, so
no web font is needed either. :func:`network_resources` lists whatever a page would still load from the network
(the report audit and the tests use it).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from marginlab.exceptions import InputError

__all__ = ["MATHJAX_DIR", "install_mathjax", "mathjax_source", "network_resources", "notebook_html"]

#: The folder, next to the reports, that holds the MathJax copy (the reports load ``mathjax/MathJax.js``).
MATHJAX_DIR = "mathjax"

#: What of the MathJax 2 distribution the reports use: the loader, the extensions, TeX input, the MathML element
#: jax, SVG output (with its STIX-Web glyph data) and the English strings.
_MATHJAX_PARTS = ("MathJax.js", "LICENSE", "config", "extensions", "jax/input", "jax/element", "jax/output/HTML-CSS",
                  "jax/output/NativeMML", "jax/output/PreviewHTML", "fonts/HTML-CSS/STIX-Web", "localization/en")
#: Left out: the accessibility explorer (3.7 MB, loaded only when a reader turns it on in the menu, which is off).
_MATHJAX_LEFT_OUT = ("extensions/a11y",)

_MATHJAX_CONFIG = r"""<script type="text/x-mathjax-config">
MathJax.Hub.Config({
    TeX: {equationNumbers: {autoNumber: "AMS", useLabelIds: true}},
    tex2jax: {inlineMath: [["$", "$"], ["\\(", "\\)"]], displayMath: [["$$", "$$"], ["\\[", "\\]"]],
              processEscapes: true, processEnvironments: true},
    MMLorHTML: {prefer: "HTML"},
    "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null,
                 linebreaks: {automatic: true}},
    displayAlign: "center",
    messageStyle: "none",
    showMathMenu: false
});
</script>
<script src="mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"></script>"""

#: The ``lab`` template less its network loads: require.js (used by no output of these notebooks), MathJax from
#: the CDN (replaced by the local copy) and mermaid.js (no notebook draws a mermaid diagram).
_TEMPLATE = ("{%- extends 'index.html.j2' -%}\n"
             "{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}\n"
             "{%- block html_head_js_mathjax -%}\n" + _MATHJAX_CONFIG + "\n{%- endblock html_head_js_mathjax -%}\n"
             "{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}\n")

_NETWORK = re.compile(
    r"""<script\b[^>]*\bsrc\s*=\s*["']?\s*(?:https?:)?//[^"'\s>]+"""  # a script from the network
    r"""|<link\b[^>]*\bhref\s*=\s*["']?\s*(?:https?:)?//[^"'\s>]+"""  # a style sheet (or any link element)
    r"""|@import\s+(?:url\()?\s*["']?\s*(?:https?:)?//[^"'\s;)]+"""  # a CSS import
    r"""|url\(\s*["']?\s*(?:https?:)?//[^"'\s)]+"""  # a font or image in CSS
    r"""|\bimport\s*\(\s*["'](?:https?:)?//[^"']+"""  # a dynamic ES module import
    r"""|<(?:img|iframe|embed|source|audio|video)\b[^>]*\bsrc\s*=\s*["']?\s*(?:https?:)?//[^"'\s>]+""",
    re.IGNORECASE,
)


def network_resources(page: str) -> list[str]:
    """What an HTML page would load from the network: scripts, style sheets, CSS imports and fonts, modules, media.

    Links a reader may click (``<a href="https://...">``) are not loads and are not listed.

    Parameters
    ----------
    page : str
        The HTML text.

    Returns
    -------
    list of str
        Each load as it appears in the page (its tag or CSS function up to the address), in page order.

    Examples
    --------
    >>> network_resources('<script src="https://cdn.example/x.js"></script><a href="https://example.org">a</a>')
    ['<script src="https://cdn.example/x.js']
    >>> network_resources('<script src="mathjax/MathJax.js"></script>')
    []
    """
    return [match.group(0) for match in _NETWORK.finditer(page)]


def mathjax_source() -> Path:
    """The MathJax 2 distribution folder shipped by the ``jupyter-server-mathjax`` package.

    Returns
    -------
    Path
        The package's ``static`` folder (``MathJax.js`` and its components).

    Raises
    ------
    InputError
        When the package is not installed (it is in the ``notebooks`` extra).
    """
    try:
        import jupyter_server_mathjax
    except ImportError:
        raise InputError("jupyter-server-mathjax", None,
                         "is not installed: pip install -e '.[notebooks]' (the reports typeset maths with its MathJax copy)") from None
    return Path(jupyter_server_mathjax.__file__).resolve().parent / "static"


def install_mathjax(output_dir: Path | str) -> Path:
    """Copy the MathJax the reports need into ``<output_dir>/mathjax/`` (files already there and equal are kept).

    Parameters
    ----------
    output_dir : Path or str
        The reports folder.

    Returns
    -------
    Path
        The ``mathjax`` folder.

    Raises
    ------
    InputError
        When ``jupyter-server-mathjax`` is not installed.
    """
    source = mathjax_source()
    target = Path(output_dir) / MATHJAX_DIR
    for part in _MATHJAX_PARTS:
        origin = source / part
        files = [origin] if origin.is_file() else sorted(path for path in origin.rglob("*") if path.is_file())
        for path in files:
            if any(path.relative_to(source).as_posix().startswith(left) for left in _MATHJAX_LEFT_OUT):
                continue
            destination = target / path.relative_to(source)
            if destination.is_file() and destination.stat().st_size == path.stat().st_size:
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
    return target


def notebook_html(notebook: Any) -> str:
    """The HTML page of a notebook: the ``lab`` template, maths by the local MathJax, nothing from the network.

    Parameters
    ----------
    notebook : nbformat.NotebookNode
        The (executed) notebook.

    Returns
    -------
    str
        The page; it loads ``mathjax/MathJax.js`` relative to itself (see :func:`install_mathjax`).
    """
    import jinja2
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", template_file="marginlab_offline.html.j2",
                            extra_loaders=[jinja2.DictLoader({"marginlab_offline.html.j2": _TEMPLATE})])
    body, _ = exporter.from_notebook_node(notebook)
    return body
