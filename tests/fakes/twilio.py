"""Moved to `threadline.simulated.twilio` (the demo runs it too); this name stays for the tests,
as the very same module (so a test that patches one of its attributes patches the real one)."""

import sys

from threadline.simulated import twilio

sys.modules[__name__] = twilio
