"""Sandbox Heat plugin: one lock around yaql expression parsing.

Heat shares one yaql (PLY) parser between all engine threads; under oslo.service's threading
backend concurrent parses corrupt it ("Bad expression Parse error" at random in large
ResourceGroups). Parsing is cheap next to everything else, so serialising it costs nothing.
"""

import functools
import threading

from heat.engine.hot import functions

_LOCK = threading.RLock()


def _install():
    original = functions.Yaql._parse
    if getattr(original, "_sandbox_locked", False):
        return

    @functools.wraps(original)
    def locked_parse(self, expression):
        with _LOCK:
            return original(self, expression)

    locked_parse._sandbox_locked = True
    functions.Yaql._parse = locked_parse


_install()

