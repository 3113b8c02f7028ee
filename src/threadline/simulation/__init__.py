"""The contact center simulated: arrivals, the real routing engine and callback policy, and
the wait each customer would see (`threadline simulate`)."""
