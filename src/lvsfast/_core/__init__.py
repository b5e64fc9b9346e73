"""Compiled hot paths. Sources live in ``src/_core/*.pyx``; twins in the domain packages."""
