"""metanlp_lite: the vocabulary of the metanlp-lite notebooks."""
__version__ = "0.1.0"
