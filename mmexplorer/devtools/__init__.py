"""Tools for developing mmexplorer: generated media for tests, benchmarks and screenshots.

Nothing in the app itself imports this package.
"""
