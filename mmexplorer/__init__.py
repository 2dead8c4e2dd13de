"""mmexplorer: explore your own photos, notes and recordings by meaning."""

__version__ = "0.1.0"
