"""Languages of customers: what they write in, and the words they are told in."""
