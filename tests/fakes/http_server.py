"""Moved to `threadline.simulated.http_server` (the demo runs it too); this name stays for
the tests, as the very same module (a test that patches one of its attributes patches it)."""

import sys

from threadline.simulated import http_server

sys.modules[__name__] = http_server
