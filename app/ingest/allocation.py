"""Building a batch's rows without the cyclic garbage collector running in the middle.

A collection holds up to 100,000 rows ahead of its writes, and every row built (its object,
its JSON dict, its checked copy) counts towards the collector's next pass, which then walks
the rows already held. Measured on a 77,000-row FRED page with 300,000 rows alive: building
the rows took 2.6 µs a row with the collector on and 1.0 with it paused, the checks 1.35 and
0.9. The objects built are plain records without reference cycles, so nothing is left for
the collector to find: it runs again, on schedule, as soon as the section ends.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic GC for a synchronous section (never across an `await`)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
