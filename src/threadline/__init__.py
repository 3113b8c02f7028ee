"""Threadline: one customer, one thread, every channel."""

__version__ = "0.1.0"
