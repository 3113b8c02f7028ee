"""Queueing maths: Erlang C/A staffing, estimated wait time and simulation."""
