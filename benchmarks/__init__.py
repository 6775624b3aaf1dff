"""Benchmarks of modelyard, run by hand; not part of the installed package."""
