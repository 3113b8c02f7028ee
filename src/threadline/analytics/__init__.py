"""Measurement: KPIs, reports, surveys, contact reasons and the contact forecast."""
