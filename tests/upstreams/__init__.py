"""Fake upstream servers the tests start on loopback."""
