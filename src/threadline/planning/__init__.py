"""Staffing plan: forecast against actual, agents required against planned, simulations."""
