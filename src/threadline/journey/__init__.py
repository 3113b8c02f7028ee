"""The customer's journey while they wait: their place and wait as a range, keep my place,
book a window, call now. Shared by the app channel, the chat widget, the phone's hold
and callbacks by text; it speaks to callbacks and routing, never to a channel."""
