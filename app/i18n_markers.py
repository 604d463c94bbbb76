"""`N_`: marks an English text for the interface catalogs without translating it where it stands.

Tables built at import (labels of codes, editor link labels, error page titles) cannot call gettext:
there is no request yet. They wrap their texts in N_ so that scripts/i18n.py extracts them, and the
code that shows a text translates it per request (`gettext(label)`, `{{ _(title) }}`). No imports, so
any module may use it.
"""


def N_(message: str) -> str:  # noqa: N802 - the conventional gettext marker name, a babel keyword
    """Return `message` unchanged; its only effect is to be found by the extraction."""
    return message
