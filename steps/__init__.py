"""Thin ZenML steps: each calls the radreport core and records what it did."""
