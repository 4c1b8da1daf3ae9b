"""Text for people: numpydoc inline markup as simple HTML, and counts with their plurals.

The op registry takes its summaries and parameter descriptions from numpydoc
docstrings, whose inline markup (````code````, ``*emphasis*``, ``:math:`...```,
``:func:`name```) would show raw in a tool tip or a label. :func:`rich_text` is the
one conversion every tool tip and form description goes through; :func:`count`
writes "1 step", "2 steps" wherever the UI counts things.
"""

from __future__ import annotations

import html
import re

__all__ = ["count", "plain_text", "rich_text"]

#: LaTeX commands that appear in our docstrings' :math: roles, as characters.
_MATH_SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "lambda": "λ",
    "mu": "μ", "pi": "π", "sigma": "σ", "theta": "θ", "omega": "ω", "Sigma": "Σ",
    "cdot": "·", "times": "×", "pm": "±", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥",
    "ne": "≠", "approx": "≈", "infty": "∞", "sum": "Σ", "sqrt": "√", "to": "→",
    "rightarrow": "→", "partial": "∂", "nabla": "∇",
}

# one pass over the text, the first alternative that matches wins
_INLINE = re.compile(
    r"(?P<role>:(?P<rname>[a-z]+(?::[a-z]+)?):`(?P<rbody>[^`]+)`)"
    r"|``(?P<code>.+?)``"
    r"|\*\*(?P<strong>[^*\s](?:[^*]*[^*\s])?)\*\*"
    r"|(?<![\w*])\*(?P<em>[^*\s](?:[^*]*[^*\s])?)\*(?!\w)"
    r"|(?<![\w`])`(?P<ref>[^`]+)`(?!\w)",
    re.DOTALL,
)


def _math(body: str) -> str:
    """A :math: role's LaTeX as readable HTML: symbols, ^{sup} and _{sub}."""
    text = re.sub(r"\\([A-Za-z]+)", lambda m: _MATH_SYMBOLS.get(m.group(1), m.group(1)), body)
    text = html.escape(text.replace("\\,", " ").replace("\\ ", " "), quote=False)

    def script(tag: str):
        return lambda m: f"<{tag}>{m.group(1) or m.group(2)}</{tag}>"

    text = re.sub(r"\^\{([^}]*)\}|\^(\w)", script("sup"), text)
    text = re.sub(r"_\{([^}]*)\}|_(\w)", script("sub"), text)
    return f"<i>{text.replace('{', '').replace('}', '')}</i>"


def _target(body: str) -> str:
    """``~pkg.mod.name`` -> ``name``; ``title <target>`` -> ``title``."""
    body = body.strip()
    m = re.match(r"(.*?)\s*<[^>]+>$", body)
    if m and m.group(1):
        return m.group(1)
    return body[1:].rsplit(".", 1)[-1] if body.startswith("~") else body


def _replace(m: re.Match) -> str:
    if m.group("role"):
        name, body = m.group("rname"), m.group("rbody")
        if name == "math":
            return _math(body)
        return f"<code>{html.escape(_target(body), quote=False)}</code>"
    if m.group("code") is not None:
        return f"<code>{html.escape(m.group('code'), quote=False)}</code>"
    if m.group("strong") is not None:
        return f"<b>{html.escape(m.group('strong'), quote=False)}</b>"
    if m.group("em") is not None:
        return f"<i>{html.escape(m.group('em'), quote=False)}</i>"
    return f"<i>{html.escape(m.group('ref'), quote=False)}</i>"


def rich_text(text: str) -> str:
    """numpydoc/reST inline markup in ``text`` as HTML for a QLabel or a tool tip.

    ````code```` becomes ``<code>``, ``*emphasis*`` italics, ``**strong**`` bold,
    ``:func:`~a.b.name``` the name in ``<code>``, ``:math:`...``` italics with
    Greek letters, super- and subscripts; everything else is escaped. Blank
    lines separate paragraphs; single line breaks are spaces. The result is
    wrapped in ``<qt>`` so Qt treats it as rich text (and wraps long tool tips).

    Examples
    --------
    >>> rich_text("Gamma ``out = in ** (1 / gamma)`` in [0, 1].")
    '<qt>Gamma <code>out = in ** (1 / gamma)</code> in [0, 1].</qt>'
    >>> rich_text("See :func:`~editor.ops.frequency.spectrum` and :math:`\\\\sigma^2`.")
    '<qt>See <code>spectrum</code> and <i>σ<sup>2</sup></i>.</qt>'
    >>> rich_text("")
    ''
    """
    if not text:
        return ""
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text.strip())]
    out = []
    for p in paragraphs:
        pieces, last = [], 0
        for m in _INLINE.finditer(p):
            pieces.append(html.escape(p[last:m.start()], quote=False))
            pieces.append(_replace(m))
            last = m.end()
        pieces.append(html.escape(p[last:], quote=False))
        out.append("".join(pieces))
    return "<qt>" + "<br><br>".join(out) + "</qt>"


def plain_text(text: str) -> str:
    """``text`` without its inline markup (for searching and plain-text places).

    Examples
    --------
    >>> plain_text("Replace by the median of a ``size`` x ``size`` square.")
    'Replace by the median of a size x size square.'
    """
    html_text = rich_text(text)
    return html.unescape(re.sub(r"<[^>]+>", "", html_text.replace("<br><br>", "\n\n")))


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and the noun, singular for one: ``count(1, "step")`` is "1 step".

    Examples
    --------
    >>> count(1, "step"), count(2, "step"), count(0, "match", "matches")
    ('1 step', '2 steps', '0 matches')
    """
    word = noun if n == 1 else (plural or noun + "s")
    return f"{n} {word}"
