"""Outage mode: a supervisor declares an incident; every channel says so first, questions
about it are answered with it and tagged to it, and whoever asked is told when it is fixed."""
