"""clustering-bench: which image representation plus which clusterer groups images best."""

__version__ = "0.1.0"
