"""Callbacks: the virtual queue (keep my place), booked windows and the retry policy."""
