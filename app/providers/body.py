"""A provider answer's body, read once.

The body inspector (run by the guarded client) and the collector that asked both read an
answer, and a FRED page of 100,000 observations is about 10 MB of JSON: decoding it twice, and
decoding it to text first to see whether it is an HTML page, was a third of a page's cost.
"""

from __future__ import annotations

import re
import weakref
from typing import Any

import httpx

from app.ingest.allocation import collector_paused

_DECODED: weakref.WeakKeyDictionary[httpx.Response, Any] = weakref.WeakKeyDictionary()
_MARKUP = re.compile(rb"\s*<")


def json_body(response: httpx.Response) -> Any:
    """`response.json()`, decoded on the first call only; ValueError when it is not JSON."""
    try:
        return _DECODED[response]
    except KeyError:
        pass
    with collector_paused():  # a dict per row: see app/ingest/allocation.py
        body = response.json()
    _DECODED[response] = body
    return body


def looks_like_markup(response: httpx.Response) -> bool:
    """The body starts, after white space, with `<`: an HTML or XML page, not JSON."""
    return _MARKUP.match(response.content) is not None
