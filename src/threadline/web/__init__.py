"""Threadline web."""
