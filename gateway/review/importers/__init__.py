"""Importers: turn public price and capability maps into catalog documents."""
